"""inception1d: the PTB-XL benchmark's InceptionTime-style 1-D CNN.

Faithful to ``code/models/inception1d.py`` of helme/ecg_ptbxl_benchmarking as the benchmark
builds and trains it (``fastai_model.py``: ``input_channels=12, kernel_size=8*5=40``, defaults
depth 6, 32 filters, bottleneck 32, ``use_residual=True``), from Strodthoff, Wagner,
Schaeffter, Samek 2021, "Deep learning for ECG analysis: benchmarks and insights from PTB-XL"
(IEEE JBHI; arXiv 2004.13701), after InceptionTime (Fawaz et al. 2020).

- kernels ``[k - 1 if k even else k for k in (K, K // 2, K // 4)]`` = 39, 19, 9 for K = 40;
- block: 1x1 bottleneck C -> 32, three parallel convs 32 -> 32 (39/19/9, 'same' padding), and
  MaxPool1d(3, 1, 1) -> 1x1 conv C -> 32; the four branches concatenated (128) -> BN -> ReLU;
  all convs without bias, stride 1: no downsampling, one feature per sample;
- a shortcut every 3 blocks: ``ReLU(out + BN(conv1x1(input of the 3 blocks)))``;
- pooled output: the benchmark head's AdaptiveConcatPool1d, ``cat[max, avg]`` (256), or the
  average alone (``pool = "avg"``, 128);
- tokens: one per sample (B, T, 128) (``token_dim`` 128, ``token_stride`` 1).

Initialisation is the benchmark's ``basic_conv1d.weight_init`` (kaiming_normal_ on every conv,
BN weight 1 / bias 0). Backbone parameters for 12 leads: 473,344 (checked against the original
code). The state_dict keys are the original backbone's (``layers.0.`` prefix dropped: ``im.*``,
``sk.*``). Deviations: none in the computation with the defaults. ``kernel_size`` may be below
the original's asserted minimum of 40; with ``use_residual = false`` the unused shortcut modules
the original still builds are left out (they would hold parameters that never train).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl


class Inception1dConfig(Config):
    kernel_size: int = Field(40, ge=4, description="longest kernel K; branches K, K/2, K/4, odd")
    depth: int = Field(6, ge=3, multiple_of=3, description="inception blocks (a multiple of 3)")
    nb_filters: int = Field(32, ge=1, description="channels per branch (4 branches)")
    bottleneck_size: int = Field(32, ge=0, description="1x1 bottleneck channels; 0 = none")
    use_residual: bool = Field(True, description="a shortcut around every 3 blocks")
    pool: Literal["concat", "avg"] = Field(
        "concat", description="concat: cat[max, avg] as the benchmark head (2 x 128); avg: 128"
    )


def _conv(c_in: int, c_out: int, k: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, k, padding=(k - 1) // 2, bias=False)


class _InceptionBlock(nn.Module):
    def __init__(self, c_in: int, filters: int, kernels: list[int], bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = _conv(c_in, bottleneck) if bottleneck > 0 else nn.Identity()
        c_mid = bottleneck if bottleneck > 0 else c_in
        self.convs = nn.ModuleList([_conv(c_mid, filters, k) for k in kernels])
        self.conv_bottle = nn.Sequential(nn.MaxPool1d(3, 1, padding=1), _conv(c_in, filters))
        self.bn_relu = nn.Sequential(nn.BatchNorm1d((len(kernels) + 1) * filters), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C_in, T) -> (B, 4 F, T)
        b = self.bottleneck(x)  # (B, bottleneck, T)
        return self.bn_relu(torch.cat([c(b) for c in self.convs] + [self.conv_bottle(x)], dim=1))


class _Shortcut(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.act_fn = nn.ReLU(True)
        self.conv = _conv(c_in, c_out)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, inp: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return self.act_fn(out + self.bn(self.conv(inp)))  # (B, C_out, T)


class Inception1d(Encoder):
    supports_token_drop = False

    def __init__(self, config: Inception1dConfig, context: EncoderContext) -> None:
        super().__init__()
        k = config.kernel_size
        kernels = [n - 1 if n % 2 == 0 else n for n in (k, k // 2, k // 4)]  # 39, 19, 9
        c = (len(kernels) + 1) * config.nb_filters
        c_ins = [context.in_channels] + [c] * (config.depth - 1)
        f, b = config.nb_filters, config.bottleneck_size
        self.im = nn.ModuleList([_InceptionBlock(ci, f, kernels, b) for ci in c_ins])
        self.use_residual = config.use_residual
        n_sk = config.depth // 3 if config.use_residual else 0
        self.sk = nn.ModuleList([_Shortcut(c_ins[3 * d], c) for d in range(n_sk)])
        self.kernels, self.pool = kernels, config.pool
        self.embed_dim = 2 * c if config.pool == "concat" else c
        self.token_dim, self.token_stride = c, 1  # one token per sample
        for m in self.modules():  # basic_conv1d.weight_init
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> feature map (B, 128, T)."""
        res = x
        for d, block in enumerate(self.im):
            x = block(x)
            if self.use_residual and d % 3 == 2:
                x = self.sk[d // 3](res, x)
                res = x
        return x

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T) -> one token per sample (B, T, 128). ``keep`` must be None."""
        if keep is not None:
            raise ValueError("inception1d cannot drop tokens (supports_token_drop is False)")
        return self.features(x).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, embed_dim): cat[max, avg] over time (256) or avg (128)."""
        f = self.features(x)  # (B, 128, T)
        if self.pool == "avg":
            return f.mean(dim=-1)
        return torch.cat([f.amax(dim=-1), f.mean(dim=-1)], dim=1)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="inception1d",
            factory=Inception1d,
            example={"nb_filters": 8, "bottleneck_size": 8},
            config=Inception1dConfig,
            summary="PTB-XL benchmark inception1d (InceptionTime, kernels 39/19/9, depth 6); "
            "pooled max and avg concatenated (B, 256)",
        )
    ]
