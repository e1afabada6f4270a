"""The PTB-XL benchmark's encoders (Strodthoff et al. 2021): xresnet1d50, xresnet1d101 and
inception1d have the original code's parameter counts and shapes, and pass the conformance kit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from ssl_ecg import Encoder
from ssl_ecg.interfaces import EncoderContext
from ssl_ecg.registry import Registry
from ssl_ecg.testing import check_encoder

NAMES = ["xresnet1d50", "xresnet1d101", "inception1d"]
# backbone parameters (no head) of the original code for 12 leads, kernel 5 / 40
PARAMS = {"xresnet1d50": 886_400, "xresnet1d101": 1_804_672, "inception1d": 473_344}
# pooled width (cat[max, avg]) and feature map (channels, length) for a (B, 12, 250) input
POOLED = {"xresnet1d50": 512, "xresnet1d101": 512, "inception1d": 256}
FEATURES = {"xresnet1d50": (256, 8), "xresnet1d101": (256, 8), "inception1d": (128, 250)}
STRIDE = {"xresnet1d50": 32, "xresnet1d101": 32, "inception1d": 1}


def build(name: str, n_samples: int = 250, **settings: Any) -> Encoder:
    spec = Registry.load().get("encoder", name)
    torch.manual_seed(0)
    return spec.factory(spec.config(**settings), EncoderContext(12, n_samples, 100.0))


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_the_benchmark_code(name: str) -> None:
    assert sum(p.numel() for p in build(name).parameters()) == PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_pooled_and_token_shapes(name: str) -> None:
    enc = build(name).eval()
    x = torch.randn(2, 12, 250)  # (B, C, T)
    d, n = FEATURES[name]
    with torch.no_grad():
        assert enc.embed_dim == POOLED[name] == 2 * d
        assert enc(x).shape == (2, 2 * d)
        assert enc.tokens(x).shape == (2, n, d)  # the final feature map, transposed
    # tokens are the feature map whatever the pooling: token_dim says their width
    assert (enc.token_dim, enc.token_stride) == (d, STRIDE[name])
    avg = build(name, pool="avg").eval()
    assert (avg.embed_dim, avg.token_dim, avg.token_stride) == (d, d, STRIDE[name])
    with torch.no_grad():
        assert avg(x).shape == (2, d)
        assert avg.tokens(x).shape == (2, n, d)
        with pytest.raises(ValueError, match="cannot drop tokens"):
            avg.tokens(x, keep=torch.zeros(2, 1, dtype=torch.long))


@pytest.mark.parametrize("pool", ["concat", "avg"])
@pytest.mark.parametrize("name", NAMES)
def test_conforms(name: str, pool: str) -> None:
    enc = check_encoder(name, {"pool": pool})
    assert not enc.supports_token_drop


LAYERS = {"xresnet1d50": [3, 4, 6, 3], "xresnet1d101": [3, 4, 23, 3]}


def residual_branches(enc: Encoder, x: torch.Tensor) -> list[torch.Tensor]:
    """Each residual block's conv branch (convs) applied to that block's input in forward(x)."""
    blocks = [m for m in enc.modules() if hasattr(m, "convs") and hasattr(m, "idpath")]
    inputs: list[torch.Tensor] = []
    hooks = [b.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for b in blocks]
    try:
        with torch.no_grad():
            enc(x)
            return [b.convs(i) for b, i in zip(blocks, inputs, strict=True)]
    finally:
        for h in hooks:
            h.remove()


@pytest.mark.parametrize("name", ["xresnet1d50", "xresnet1d101"])
def test_zero_init_residual_zeroes_every_residual_branch(name: str) -> None:
    x = torch.randn(2, 12, 250)
    enc = build(name, zero_init_residual=True)
    zeroed = residual_branches(enc, x)
    assert len(zeroed) == sum(LAYERS[name])
    assert all((out == 0).all() for out in zeroed)
    assert all((b.convs[-1][1].weight == 0).all() for b in enc.modules() if hasattr(b, "idpath"))
    # the default (the benchmark's weight_init: every BN gamma 1) leaves them live
    assert all((out != 0).any() for out in residual_branches(build(name), x))


def test_initialisation_is_the_benchmarks_weight_init() -> None:
    enc = build("xresnet1d50")
    bns = [m for m in enc.modules() if isinstance(m, nn.BatchNorm1d)]
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in bns)
    conv = enc.get_submodule("body.0.0")  # 12 -> 32, kernel 5: kaiming normal, std sqrt(2/60)
    assert isinstance(conv, nn.Conv1d) and conv.bias is None
    assert abs(conv.weight.std().item() - (2 / 60) ** 0.5) < 0.02


@pytest.mark.parametrize("name", ["xresnet1d50", "xresnet1d101"])
def test_too_short_window_says_what_to_change(name: str) -> None:
    with pytest.raises(ValueError, match=r"total stride 32.*window_s"):
        build(name, n_samples=20)
    assert build(name, n_samples=32)(torch.randn(2, 12, 32)).shape == (2, 512)


def test_inception_kernels_and_settings() -> None:
    assert build("inception1d").kernels == [39, 19, 9]
    with pytest.raises(ValueError):
        build("inception1d", depth=4)  # a shortcut every 3 blocks: depth must be a multiple of 3
    plain = build("inception1d", use_residual=False)
    assert plain(torch.randn(2, 12, 250)).shape == (2, 256)
