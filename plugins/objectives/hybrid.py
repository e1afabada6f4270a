"""Hybrid: a weighted sum of any objectives (arXiv 2407.07110: MAE + contrastive).

    L = sum_k w_k L_k

Parts are built through the registry by name, so any installed objectives combine::

    [objective]
    name = "hybrid"
    parts = { mae = 1.0, simclr = 0.5 }
    [objective.mae]          # optional settings of one part
    mask_ratio = 0.6

All parts share the encoder. Part ``k`` sees the first ``n_views_k`` views of the batch; the
batch carries the most segments any part asks for (``n_segments``).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, did_you_mean, hookimpl


class HybridConfig(Config):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    parts: dict[str, float] = Field(
        default_factory=lambda: {"mae": 1.0, "simclr": 0.5},
        min_length=1,
        description="objective name -> loss weight",
    )

    @model_validator(mode="after")
    def _extra_are_parts(self) -> HybridConfig:
        for name, weight in self.parts.items():
            if not (weight > 0 and weight < float("inf")):  # also refuses nan
                raise ValueError(
                    f"parts.{name} = {weight}: a part's weight must be a finite number above 0 "
                    "(leave the part out instead of weighting it 0)"
                )
        for key, value in (self.model_extra or {}).items():
            if key not in self.parts:
                hint = did_you_mean(key, [*self.parts, "parts"])
                raise ValueError(f"'{key}' is neither a setting nor one of parts{hint}")
            if not isinstance(value, dict):
                raise ValueError(f"'{key}' must be a table of that part's settings")
        return self

    def components(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        extra = self.model_extra or {}
        return [(name, "objective", name, extra.get(name, {})) for name in self.parts]


class Hybrid(Objective):
    def __init__(self, config: HybridConfig, context: ObjectiveContext) -> None:
        super().__init__()
        settings: dict[str, Any] = config.model_extra or {}
        self.weights = dict(config.parts)
        self.parts = nn.ModuleDict(
            {
                name: context.build(name, settings.get(name, {}), f"{context.key}.{name}")
                for name in config.parts
            }
        )
        self.n_views = max(part.n_views for part in self.parts.values())
        self.n_segments = max(part.n_segments for part in self.parts.values())

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=batch.signal.device)
        for name, part in self.parts.items():
            part_out = part(batch, views[: part.n_views])
            total = total + self.weights[name] * part_out["loss"]
            out[name] = part_out["loss"].detach()
            out.update({f"{name}.{k}": v.detach() for k, v in part_out.items() if k != "loss"})
        return {"loss": total, **out}

    def on_step(self, step: int, total_steps: int) -> None:
        for part in self.parts.values():
            part.on_step(step, total_steps)

    def reconstruction(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """The first part's that reconstructs, if any."""
        for part in self.parts.values():
            if (out := part.reconstruction(batch)) is not None:
                return out
        return None


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="hybrid",
            factory=Hybrid,
            config=HybridConfig,
            summary="weighted sum of objectives (default mae + simclr), one shared encoder",
            example={"mae": {"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}},
        )
    ]
