"""The CPC encoder of Mehari & Strodthoff 2022 ("Self-supervised representation learning from
12-lead ECG data", Comput. Biol. Med.; arXiv 2103.12676; hhi-aml/ecg-selfsupervised
``clinical_ts/cpc.py``: ``CPCEncoder``, ``CPCModel``, ``AdaptiveConcatPoolRNN``): a local encoder
and an autoregressive context network, used together downstream.

* local encoder ``local(x) -> z`` (B, N, 512): four Conv1d (no bias) -> BatchNorm -> ReLU
  layers of 512 features. ``local = "fc"`` (the paper's runs, ``--fc-encoder``): kernel 1,
  stride 1, i.e. a per-sample MLP, one step = one sample (10 ms at 100 Hz); ``local =
  "strided"``: kernels 10, 4, 4, 4 and strides 2, 2, 2, 2 (one step = 16 samples), padding
  (k - 1) // 2 as in the repository.
* context ``context(z) -> c`` (B, N, 512): a 2-layer unidirectional LSTM of 512 units, so step t
  sees steps <= t only (the ``cpc`` objective predicts z_{t+k} from c_t).
* ``forward(x)`` (downstream, the paper's head input): concat pooling of the context outputs
  over time, [mean, max, last] -> (B, 1536). ``tokens(x)`` are the context outputs.

The repository standardises the input with fixed PTB-XL lead statistics; here the recipe's
preprocessing applies (``recipes/papers/mehari_cpc.toml`` says what it sets).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl

LOCAL = {"fc": ([1, 1, 1, 1], [1, 1, 1, 1]), "strided": ([10, 4, 4, 4], [2, 2, 2, 2])}


class CPCEncoderConfig(Config):
    local: Literal["fc", "strided"] = Field(
        "fc", description="per-sample MLP (the paper's runs) or the strided conv encoder"
    )
    features: int = Field(512, ge=1, description="local encoder width (every layer)")
    hidden: int = Field(512, ge=1, description="LSTM units")
    layers: int = Field(2, ge=1, description="LSTM layers")


class CPCEncoder(Encoder):
    def __init__(self, config: CPCEncoderConfig, context: EncoderContext) -> None:
        super().__init__()
        kernels, strides = LOCAL[config.local]
        convs: list[nn.Module] = []
        c_in = context.in_channels
        for k, s in zip(kernels, strides, strict=True):
            conv = nn.Conv1d(c_in, config.features, k, stride=s, padding=(k - 1) // 2, bias=False)
            convs += [conv, nn.BatchNorm1d(config.features), nn.ReLU()]
            c_in = config.features
        self.encoder = nn.Sequential(*convs)
        self.rnn = nn.LSTM(config.features, config.hidden, num_layers=config.layers,
                           batch_first=True)  # fmt: skip
        self.local_dim, self.context_dim = config.features, config.hidden
        self.embed_dim, self.token_dim = 3 * config.hidden, config.hidden
        self.token_stride = int(torch.tensor(strides).prod())
        if context.n_samples < 2 * self.token_stride:
            raise ValueError(
                f"a window of {context.n_samples} samples gives fewer than 2 steps of "
                f"{self.token_stride} samples; use a longer data.window_s"
            )

    def local(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> z: (B, N, features), one step per token_stride samples."""
        return self.encoder(x).transpose(1, 2)

    def context(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, N, features) -> c: (B, N, hidden); step t sees steps <= t."""
        return self.rnn(z)[0]

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T) -> the context outputs (B, N, hidden); ``keep`` must be None."""
        if keep is not None:
            raise ValueError("cpc_encoder cannot drop tokens (supports_token_drop is False)")
        return self.context(self.local(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, 3 hidden): [mean, max, last] of the context outputs."""
        c = self.tokens(x)  # (B, N, H)
        return torch.cat([c.mean(dim=1), c.amax(dim=1), c[:, -1]], dim=1)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="cpc_encoder",
            factory=CPCEncoder,
            config=CPCEncoderConfig,
            summary="CPC encoder (Mehari & Strodthoff 2022): local convs + 2x512 LSTM, "
            "concat pooling",
            example={"features": 32, "hidden": 32},
        )
    ]
