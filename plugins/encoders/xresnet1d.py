"""xresnet1d50 / xresnet1d101: the PTB-XL benchmark's bottleneck 1-D ResNets.

Faithful to ``code/models/xresnet1d.py`` of helme/ecg_ptbxl_benchmarking as the benchmark
builds and trains it (``fastai_model.py``: ``input_channels=12, kernel_size=5``), from
Strodthoff, Wagner, Schaeffter, Samek 2021, "Deep learning for ECG analysis: benchmarks and
insights from PTB-XL" (IEEE JBHI; arXiv 2004.13701), where xresnet1d101 is among the best models.

- stem: three Conv-BN-ReLU (C -> 32, stride 2; 32 -> 32; 32 -> 64; kernel 5, no bias), then
  MaxPool1d(3, 2, 1);
- four stages of 3/4/6/3 (xresnet1d50) or 3/4/23/3 (xresnet1d101) bottleneck blocks, expansion
  4, block width 64 in *every* stage (the benchmark's ``[64, 64, 64, 64]``, not ResNet's
  64..512), so each stage outputs 256 channels; stage strides 1, 2, 2, 2 on the first block's
  middle (kernel-5) conv;
- block: 1x1 -> k5 (stride) -> 1x1 (no ReLU); skip: AvgPool1d(2, ceil_mode=True) when strided,
  then 1x1 conv + BN only when the channels change; ``ReLU(convs(x) + skip(x))``;
- pooled output: the benchmark head's AdaptiveConcatPool1d, ``cat[max, avg]`` (512), or the
  average alone (``pool = "avg"``, 256). The head's BN/dropout/linear layers are the task's;
- tokens: the final feature map (B, ceil(T / 32), 256) (``token_dim`` 256, ``token_stride``
  32); the padded strided convolutions centre token i on sample 32 i (``token_origin`` 16).

Initialisation is what the benchmark trains from: ``fastai_model.fit`` re-applies
``basic_conv1d.weight_init`` (kaiming_normal_ on every conv, every BN weight 1 / bias 0), which
overwrites the module's own zero-gamma ``BatchZero`` on each block's last BN;
``zero_init_residual = true`` restores that zero gamma.

Backbone parameters for 12 leads (checked against the original code): xresnet1d50 886,400,
xresnet1d101 1,804,672. The state_dict layout mirrors the original's ``nn.Sequential`` under
``body.`` (stem 0-2, max pool 3, stages 4-7; blocks with ``convs`` / ``idpath``), so benchmark
weights load after prefixing every key with ``body.`` and dropping the head (``8.*``) and the
``convpath.0.*`` aliases. Deviations: none in the computation; the stem shares ``kernel_size``
with the blocks (the original's separate ``kernel_size_stem`` is also 5), and kernel sizes must
be odd.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl

EXPANSION = 4
TOTAL_STRIDE = 32  # stem conv 2 x max pool 2 x stages 1, 2, 2, 2
LAYERS = {"xresnet1d50": (3, 4, 6, 3), "xresnet1d101": (3, 4, 23, 3)}

Width = Annotated[int, Field(ge=1)]


class XResNet1dConfig(Config):
    kernel_size: int = Field(5, ge=1, description="odd kernel of the stem and the middle convs")
    stem_widths: list[Width] = Field([32, 32, 64], min_length=1, description="stem channels")
    widths: list[Width] = Field(
        [64, 64, 64, 64],
        min_length=4,
        max_length=4,
        description="bottleneck width per stage (outputs 4x this many channels)",
    )
    pool: Literal["concat", "avg"] = Field(
        "concat", description="concat: cat[max, avg] as the benchmark head (2 x 256); avg: 256"
    )
    zero_init_residual: bool = Field(False, description="zero the last BN gamma of every block")


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    """fastai ConvLayer: Conv1d (no bias, 'same' padding) -> BN -> ReLU (when ``act``)."""
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, k, stride=stride, padding=(k - 1) // 2, bias=False),
        nn.BatchNorm1d(c_out),
    ]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, k: int, stride: int) -> None:
        super().__init__()
        c_out = width * EXPANSION
        self.convs = nn.Sequential(
            _conv(c_in, width, 1),
            _conv(width, width, k, stride=stride),
            _conv(width, c_out, 1, act=False),
        )
        skip: list[nn.Module] = []
        if stride != 1:
            skip.append(nn.AvgPool1d(2, ceil_mode=True))
        if c_in != c_out:
            skip.append(_conv(c_in, c_out, 1, act=False))
        self.idpath = nn.Sequential(*skip)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C_in, T) -> (B, C_out, T')
        return self.act(self.convs(x) + self.idpath(x))


class XResNet1d(Encoder):
    supports_token_drop = False

    def __init__(
        self,
        config: XResNet1dConfig,
        context: EncoderContext,
        layers: tuple[int, ...] = LAYERS["xresnet1d50"],
        name: str = "xresnet1d50",
    ) -> None:
        super().__init__()
        k = config.kernel_size
        if k % 2 == 0:
            raise ValueError(f"{name}: kernel_size = {k} must be odd ('same' padding)")
        if context.n_samples < TOTAL_STRIDE:
            raise ValueError(
                f"a window of {context.n_samples} samples is shorter than {name}'s total stride "
                f"{TOTAL_STRIDE}; use a longer data.window_s (at least "
                f"{TOTAL_STRIDE / context.fs:g} s at {context.fs:g} Hz)"
            )
        widths = [context.in_channels, *config.stem_widths]
        mods: list[nn.Module] = [
            _conv(widths[i], widths[i + 1], k, stride=2 if i == 0 else 1)
            for i in range(len(config.stem_widths))
        ]
        mods.append(nn.MaxPool1d(3, stride=2, padding=1))
        c = widths[-1]
        for i, (n, width) in enumerate(zip(layers, config.widths, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(_Bottleneck(c, width, k, stride=2 if (i > 0 and j == 0) else 1))
                c = width * EXPANSION
            mods.append(nn.Sequential(*blocks))
        self.body = nn.Sequential(*mods)
        self.name, self.pool = name, config.pool
        self.embed_dim = 2 * c if config.pool == "concat" else c
        self.token_dim, self.token_stride = c, TOTAL_STRIDE
        self.token_origin = TOTAL_STRIDE // 2  # token i is centred on sample i * 32
        self._init(config.zero_init_residual)

    def _init(self, zero_init_residual: bool) -> None:
        """basic_conv1d.weight_init: kaiming_normal_ convs, BN weight 1 / bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # the module's own BatchZero on each block's last BN
            for m in self.modules():
                if isinstance(m, _Bottleneck):
                    nn.init.zeros_(m.convs[-1][1].weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> final feature map (B, 256, ceil(T / 32)), e.g. T = 250 -> 8."""
        return self.body(x)

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T) -> the final feature map as tokens (B, N, 256), N = ceil(T / 32).
        Convolutions see the whole window: ``keep`` must be None."""
        if keep is not None:
            raise ValueError(f"{self.name} cannot drop tokens (supports_token_drop is False)")
        return self.features(x).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, embed_dim): cat[max, avg] over time (512) or avg (256)."""
        f = self.features(x)  # (B, 256, N)
        if self.pool == "avg":
            return f.mean(dim=-1)
        return torch.cat([f.amax(dim=-1), f.mean(dim=-1)], dim=1)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name=name,
            factory=partial(XResNet1d, layers=layers, name=name),
            example={"widths": [8, 8, 8, 8], "stem_widths": [8, 8, 16]},
            config=XResNet1dConfig,
            summary=f"PTB-XL benchmark {name} (bottleneck blocks {'/'.join(map(str, layers))}, "
            "width 256); pooled max and avg concatenated (B, 512)",
        )
        for name, layers in LAYERS.items()
    ]
