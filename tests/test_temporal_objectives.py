"""Segment CPC and the patient-adversarial term: losses against references written out here,
the gradient reversal, and short real MIT-BIH runs in which the losses of CPC (Mehari's, on its
encoder), segment CPC and CMSC fall. The paper objectives' reference checks are in
test_paper_objectives.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import data_root
from torch.testing import assert_close

from ssl_ecg.interfaces import Batch, Encoder, EncoderContext, Objective, ObjectiveContext
from ssl_ecg.registry import Registry

REGISTRY = Registry.load()
B, C, T, FS = 6, 2, 200, 100.0
VIT = {"patch": 10, "dim": 32, "depth": 1, "heads": 2}
MITDB = data_root() / "mitbih-arrhythmia"


def build(name: str, enc: Encoder, n_patients: int | None = None, **settings: Any) -> Objective:
    spec = REGISTRY.get("objective", name)
    ctx = ObjectiveContext(enc, C, T, FS, "objective", lambda *a: None, n_patients)  # type: ignore[arg-type, return-value]
    return spec.factory(spec.config(**settings), ctx)


def vit() -> Encoder:
    spec = REGISTRY.get("encoder", "vit1d")
    return spec.factory(spec.config(**VIT), EncoderContext(C, T, FS))


def segments(s: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(s, B, C, T, generator=torch.Generator().manual_seed(seed))


def test_segment_cpc_is_infonce_over_positions_and_items() -> None:
    torch.manual_seed(0)
    enc = vit()
    obj = build("segment_cpc", enc, segments=4, steps_ahead=2, temperature=0.2).eval()
    assert obj.n_segments == 4 and obj.n_views == 0
    seg = segments(4)
    batch = Batch(seg[0], FS, torch.ones(B, C, dtype=torch.bool), segments=seg)
    out = obj(batch, [])
    with torch.no_grad():
        z = torch.stack([enc(seg[t]) for t in range(4)])  # (S, B, D), each window on its own
        c, _ = obj.gru(z)
        zn = F.normalize(z, dim=-1)
        losses = []
        for k in (1, 2):
            terms = []
            for t in range(4 - k):
                p = F.normalize(obj.predict[k - 1](c[t]), dim=-1)  # (B, D)
                for i in range(B):
                    scores = torch.stack([p[i] @ zn[u, j] for u in range(4) for j in range(B)])
                    terms.append(-(scores / 0.2).log_softmax(0)[(t + k) * B + i])
            losses.append(torch.stack(terms).mean())
    assert_close(out["loss"], torch.stack(losses).mean(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="segment_cpc needs 4 segments"):
        obj(Batch(seg[0], FS, torch.ones(B, C, dtype=torch.bool)), [])


def test_patient_adversarial_reverses_the_gradient_into_the_encoder() -> None:
    torch.manual_seed(0)
    enc = vit()
    obj = build("patient_adversarial", enc, n_patients=5, strength=0.5)
    x = torch.randn(B, C, T)
    patient = torch.tensor([0, 1, 2, 3, 4, 0])
    loss = obj(Batch(x, FS, torch.ones(B, C, dtype=torch.bool), patient=patient), [])["loss"]
    assert obj.classifier[-1].out_features == 5
    assert_close(loss, F.cross_entropy(obj.classifier(enc(x)), patient))
    loss.backward()
    reversed_grad = [p.grad.clone() for p in enc.parameters()]
    head_grad = [p.grad.clone() for p in obj.classifier.parameters()]
    enc.zero_grad()
    obj.zero_grad()
    F.cross_entropy(obj.classifier(enc(x)), patient).backward()  # without the reversal
    for g_rev, p in zip(reversed_grad, enc.parameters(), strict=True):
        assert_close(g_rev, -0.5 * p.grad)  # the encoder learns to hide the patient ...
    for g, p in zip(head_grad, obj.classifier.parameters(), strict=True):
        assert_close(g, p.grad)  # ... while the classifier learns to find it
    with pytest.raises(ValueError, match="patient index 7 >= 5 patients"):
        obj(Batch(x, FS, torch.ones(B, C, dtype=torch.bool), patient=patient + 3), [])


@pytest.mark.skipif(not (MITDB / "100.hea").is_file(), reason=f"no MIT-BIH records in {MITDB}")
@pytest.mark.parametrize("name", ["segment_cpc", "cmsc", "cpc"])
def test_loss_falls_on_real_mitbih_windows(name: str, tmp_path: Path) -> None:
    """40 steps on 2 s windows of records 100 and 101 (no augmentation): a tiny ViT for CMSC and
    segment CPC, a small CPC encoder (32 features, 32 LSTM units) for CPC. CMSC falls by 10 %
    and below chance, log(16) (its floor here is log(8): the other 7 windows of the same
    patient stay in each denominator). Segment CPC (3 consecutive windows, one step ahead)
    learns more slowly: it must end below chance, log(3 x 16 candidates), and 5 % below its
    start (measured on 2 cores: 3.96 -> 3.70 while chance is 3.87). CPC (12 steps of 4 ms ahead
    against 128 negatives) must end below chance, 488 anchors x log(129), and 5 % below its
    start (measured: 2369 -> 2194, chance 2372)."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train

    path = tmp_path / "mit.toml"
    path.write_text(
        f'[data]\nname = "mitbih"\nroot = "{MITDB}"\nrecords = ["100", "101"]\nfs = 250\n'
        'leads = ["MLII"]\nwindow_s = 2.0\nstride_s = 2.0\n'
        + (
            '[encoder]\nname = "cpc_encoder"\nfeatures = 32\nhidden = 32\n'
            if name == "cpc"
            else '[encoder]\nname = "vit1d"\npatch = 25\ndim = 32\ndepth = 1\nheads = 2\n'
        )
        + f'[objective]\nname = "{name}"\n'
        + ("segments = 3\nsteps_ahead = 1\n" if name == "segment_cpc" else "")
        + "[train]\nsteps = 40\nbatch_size = 16\nlr = 3e-3\nwarmup_steps = 5\nlog_every = 1\n"
        'device = "cpu"\n'
    )
    train(load_recipe(path), tmp_path / "run", progress=False)
    loss = [
        json.loads(r)["loss"] for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(loss) == 40
    first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
    if name == "segment_cpc":
        assert last < math.log(3 * 16) and last < 0.95 * first, loss
    elif name == "cpc":
        assert last < 488 * math.log(129) and last < 0.95 * first, loss
    else:  # two patients, 8 windows each per batch: CLOCS's loss cannot fall below log(8)
        assert last < 0.9 * first and last < math.log(16), loss
