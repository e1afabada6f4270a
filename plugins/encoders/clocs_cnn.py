"""The CLOCS encoder (Kiyasseh et al. 2021, ICML; danikiyasseh/CLOCS ``prepare_network.py``
``cnn_network_contrastive``): a small 1-D CNN whose last linear layer gives the embedding the
contrastive loss reads directly (CLOCS has no projection head).

Three blocks of Conv1d (kernel 7, stride 3, no padding) -> BatchNorm -> ReLU -> MaxPool(2) ->
Dropout(0.1), with 4, 16 and 32 channels, then the flattened map -> Linear(-> ``embedding_dim``).
CLOCS feeds 2,500 samples (5 s at 500 Hz, or 10 s at 250 Hz) of one lead: 2500 -> 832 -> 416
-> 137 -> 68 -> 21 -> 10, so the linear layer reads 32 x 10 = 320 values. Here the flattened
size follows the recipe's window, and the first convolution takes the recipe's C leads (CLOCS:
one); ``embedding_dim`` defaults to the class default of CLOCS (256; its experiment script sweeps
320, 256, 128, 64 and 32).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl


class CLOCSCNNConfig(Config):
    embedding_dim: int = Field(256, ge=1, description="output width (CLOCS's E)")
    dropout: float = Field(0.1, ge=0, lt=1, description="after each block (CLOCS: 0.1)")


class CLOCSCNN(Encoder):
    def __init__(self, config: CLOCSCNNConfig, context: EncoderContext) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        n, c_in = context.n_samples, context.in_channels
        for c_out in (4, 16, 32):
            layers += [nn.Conv1d(c_in, c_out, 7, stride=3), nn.BatchNorm1d(c_out), nn.ReLU(),
                       nn.MaxPool1d(2), nn.Dropout(config.dropout)]  # fmt: skip
            n, c_in = ((n - 7) // 3 + 1) // 2, c_out
        if n < 1:
            raise ValueError(
                f"a window of {context.n_samples} samples is too short for the CLOCS CNN (it "
                "needs at least 388 samples); CLOCS uses 2500"
            )
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(32 * n, config.embedding_dim)
        self.embed_dim = config.embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, embedding_dim)."""
        return self.linear(self.features(x).flatten(1))


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="clocs_cnn",
            factory=CLOCSCNN,
            config=CLOCSCNNConfig,
            summary="CLOCS's 3-block 1-D CNN + linear embedding (Kiyasseh et al. 2021)",
            example={"embedding_dim": 32},
        )
    ]
