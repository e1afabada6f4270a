"""xresnet1d-style 1-D ResNet (the strong CNN baseline of the PTB-XL benchmark,
Strodthoff et al. 2021): a three-conv stem, residual stages, global average pooling."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl


class ResNet1dConfig(Config):
    widths: list[int] = Field([64, 128, 128, 256], min_length=1, description="channels per stage")
    blocks: list[int] = Field([1, 1, 1, 1], min_length=1, description="residual blocks per stage")
    kernel_size: int = Field(5, ge=1)
    stem_width: int = Field(32, ge=1)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm1d(c_out),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(_conv(c_in, c_out, k, stride), _conv(c_out, c_out, k, act=False))
        skip: list[nn.Module] = []
        if stride != 1:
            skip.append(nn.AvgPool1d(stride, ceil_mode=True))
        if c_in != c_out:
            skip.append(_conv(c_in, c_out, 1, act=False))
        self.skip = nn.Sequential(*skip)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.skip(x))


class ResNet1d(Encoder):
    def __init__(self, config: ResNet1dConfig, context: EncoderContext) -> None:
        super().__init__()
        if len(config.widths) != len(config.blocks):
            raise ValueError("widths and blocks must have the same length")
        k, w = config.kernel_size, config.stem_width
        self.stem = nn.Sequential(
            _conv(context.in_channels, w, k, stride=2),
            _conv(w, w, k),
            _conv(w, config.widths[0], k),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        stages, c = [], config.widths[0]
        for i, (width, n) in enumerate(zip(config.widths, config.blocks, strict=True)):
            for j in range(n):
                stages.append(_Block(c, width, k, stride=2 if (i > 0 and j == 0) else 1))
                c = width
        self.stages = nn.Sequential(*stages)
        self.embed_dim = c
        self.token_stride = 4 * 2 ** (len(config.widths) - 1)
        self.token_origin = self.token_stride // 2  # padded strided convs centre token i on i*s
        if context.n_samples < self.token_stride:
            raise ValueError(
                f"a window of {context.n_samples} samples is shorter than the encoder's total "
                f"stride {self.token_stride}; use fewer stages or a longer window_s"
            )

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T) -> (B, N, D), N = ceil(T / token_stride). Convolutions see the whole
        window, so tokens cannot be dropped (``supports_token_drop`` is False): ``keep`` must be
        None."""
        if keep is not None:
            raise ValueError("resnet1d cannot drop tokens (supports_token_drop is False)")
        return self.stages(self.stem(x)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, D)."""
        return self.stages(self.stem(x)).mean(dim=-1)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="resnet1d",
            factory=ResNet1d,
            config=ResNet1dConfig,
            summary="xresnet1d-style 1-D ResNet; pooled (B, D) and tokens (B, N, D)",
            example={"widths": [16, 16], "blocks": [1, 1], "stem_width": 8},
        )
    ]
