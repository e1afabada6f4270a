"""Each objective named after a paper computes that paper's loss: its value on a fixed small
input equals an independent implementation of the paper's formula (or its reference code)
written here, and its masking / view construction follows the paper."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_ecg.interfaces import Batch, EncoderContext, ObjectiveContext
from ssl_ecg.registry import Registry
from ssl_ecg.testing import TinyEncoder

REGISTRY = Registry.load()


def encoder(name: str, c: int, t: int, fs: float = 100.0, **settings):
    spec = REGISTRY.get("encoder", name)
    torch.manual_seed(0)
    return spec.factory(spec.config(**settings), EncoderContext(c, t, fs))


def objective(name: str, enc, c: int, t: int, fs: float = 100.0, **settings):
    spec = REGISTRY.get("objective", name)

    def build(part: str, sub: dict, key: str):
        p = REGISTRY.get("objective", part)
        return p.factory(p.config(**sub), ObjectiveContext(enc, c, t, fs, key, build))

    torch.manual_seed(0)
    return spec.factory(
        spec.config(**settings), ObjectiveContext(enc, c, t, fs, "objective", build)
    )


def batch(b: int, c: int, t: int, seed: int = 0, segments: int = 1, patient=None) -> Batch:
    g = torch.Generator().manual_seed(seed)
    segs = torch.randn(segments, b, c, t, generator=g)
    pid = torch.as_tensor(patient) if patient is not None else torch.arange(b)
    return Batch(segs[0], 100.0, torch.ones(b, c, dtype=torch.bool), None, pid,
                 segs if segments > 1 else None)  # fmt: skip


# ------------------------------------------------------------------ CLOCS
def clocs_reference(z: np.ndarray, pids: list[str]) -> float:
    """CLOCS ``obtain_contrastive_loss`` (danikiyasseh/CLOCS prepare_miscellaneous.py, trial
    CMSC/CMLC/CMSMLC), transcribed in numpy: z (B, H, nviews). With more than two views it
    averages the pairs (CLOCS's code keeps only its last pair: an `=` for `+=`)."""
    pids = np.array(pids, dtype=object)
    pid1, pid2 = np.meshgrid(pids, pids)
    pid_matrix = pid1 + "-" + pid2
    interest = np.zeros((len(pids), len(pids)))
    for pid in np.unique(pids + "-" + pids):
        interest += pid_matrix == pid
    rows1, cols1 = np.where(np.triu(interest, 1))
    rows2, cols2 = np.where(np.tril(interest, -1))
    total, pairs = 0.0, 0
    for a, b in itertools.combinations(range(z.shape[2]), 2):
        v1, v2 = z[:, :, a], z[:, :, b]
        norm = np.linalg.norm(v1, axis=1)[:, None] * np.linalg.norm(v2, axis=1)[None, :]
        e = np.exp((v1 @ v2.T) / (norm * 0.1))
        row, col, diag = e.sum(1), e.sum(0), np.diag(e)
        loss = -np.mean(np.log(diag / row)) - np.mean(np.log(diag / col))
        terms = 2
        if len(rows1):
            loss += -np.mean(np.log(e[rows1, cols1] / row[rows1]))
            terms += 1
        if len(rows2):
            loss += -np.mean(np.log(e[rows2, cols2] / col[cols2]))
            terms += 1
        total += loss / terms
        pairs += 1
    return total / pairs


class Identity(TinyEncoder):
    """An encoder that returns its input flattened: objectives' losses on known embeddings."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


@pytest.mark.parametrize("patients", [[0, 1, 2, 3, 4, 5], [0, 1, 0, 2, 1, 0], [7] * 6])
def test_cmsc_equals_clocs_reference(patients: list[int]) -> None:
    b, c, t = 6, 1, 8
    enc = Identity(c, dim=t, stride=t)
    enc.embed_dim = c * t
    obj = objective("cmsc", enc, c, t)
    bt = batch(b, c, t, seed=3, segments=2, patient=patients)
    ours = float(obj(bt, [])["loss"])
    z = bt.segments.flatten(2).permute(1, 2, 0).numpy().astype(np.float64)  # (B, H, 2 views)
    assert ours == pytest.approx(clocs_reference(z, [str(p) for p in patients]), rel=1e-5)


def test_cmsc_identical_views_give_log_b() -> None:
    """Every embedding the same: each term is -log(1/B) (the CLOCS notes' check value)."""
    b, c, t = 8, 1, 4
    enc = Identity(c, dim=t, stride=t)
    enc.embed_dim = t
    bt = batch(b, c, t, segments=2, patient=[0, 1, 2, 0, 3, 4, 5, 6])
    same = torch.ones_like(bt.segments)
    out = objective("cmsc", enc, c, t)(bt.replace(segments=same, signal=same[0]), [])
    assert float(out["loss"]) == pytest.approx(math.log(b), rel=1e-6)


@pytest.mark.parametrize("name", ["cmlc", "cmsmlc"])
def test_lead_views_equal_clocs_reference_over_all_pairs(name: str) -> None:
    """CMLC: view l is lead l alone; CMSMLC: lead x segment; the loss averages every pair."""
    b, c, t = 5, 3, 6
    enc = Identity(c, dim=t, stride=t)
    enc.embed_dim = c * t
    obj = objective(name, enc, c, t)
    patients = [0, 1, 0, 2, 3]
    bt = batch(b, c, t, seed=1, segments=2, patient=patients)
    ours = float(obj(bt, [])["loss"])
    segs = bt.segments[:2] if name == "cmsmlc" else bt.segments[:1]
    views = []
    for s in range(segs.shape[0]):
        for lead in range(c):
            only = torch.zeros_like(segs[s])
            only[:, lead] = segs[s][:, lead]
            views.append(only.flatten(1))
    z = torch.stack(views, dim=2).numpy().astype(np.float64)  # (B, H, V)
    assert z.shape[2] == (2 * c if name == "cmsmlc" else c)
    assert ours == pytest.approx(clocs_reference(z, [str(p) for p in patients]), rel=1e-5)


def test_clocs_has_no_projection_head_and_runs_on_the_batch_device() -> None:
    enc = TinyEncoder(2)
    obj = objective("cmsc", enc, 2, 500)
    assert not [n for n, _ in obj.named_parameters() if not n.startswith("encoder.")]
    bt = batch(4, 2, 500, segments=2).replace(patient=None)  # fallback ids made on the device
    assert torch.isfinite(obj(bt, [])["loss"])


# ------------------------------------------------------------------ CPC (Mehari & Strodthoff)
def cpc_reference(z: torch.Tensor, p: torch.Tensor, draw: torch.Tensor, k: int) -> torch.Tensor:
    """``CPCModel.cpc_loss`` of hhi-aml/ecg-selfsupervised with negatives from the same sequence,
    for given negative draws (B, M, n) in [0, seq - 1): a loop over anchors, raw dot products,
    positive first, cross-entropy summed over anchors."""
    bs, seq, _ = z.shape
    loss = torch.tensor(0.0, dtype=torch.float64)
    for i in range(seq - k):
        positives = z[:, i + k].unsqueeze(1)  # (B, 1, D)
        idxs_seq = draw[:, i]  # (B, n)
        idxs_seq2 = (
            idxs_seq * (idxs_seq < (i + k)).long() + (idxs_seq + 1) * (idxs_seq >= (i + k)).long()
        )
        negatives = torch.stack([z[b, idxs_seq2[b]] for b in range(bs)])  # (B, n, D)
        candidates = torch.cat([positives, negatives], dim=1)
        preds = torch.sum(p[:, i].unsqueeze(1) * candidates, dim=-1)  # (B, 1 + n)
        loss = loss + F.cross_entropy(preds, torch.zeros(bs, dtype=torch.int64))
    return loss


def test_cpc_equals_mehari_reference() -> None:
    c, t, k, n = 3, 40, 12, 7
    enc = encoder("cpc_encoder", c, t, features=16, hidden=8)
    obj = objective("cpc", enc, c, t, steps_predicted=k, negatives=n).eval()
    bt = batch(4, c, t, seed=2)
    torch.manual_seed(5)
    ours = obj(bt, [])["loss"].detach()
    with torch.no_grad():
        z = enc.local(bt.signal).double()  # (B, N, D)
        p = obj.proj(enc.context(enc.local(bt.signal))).double()
    torch.manual_seed(5)
    draw = torch.randint(0, t - 1, (4, t - k, n))  # the objective's one draw, replayed
    assert float(ours) == pytest.approx(float(cpc_reference(z, p, draw, k)), rel=1e-5)


def test_cpc_refuses_encoders_whose_tokens_see_the_future() -> None:
    from ssl_ecg import PluginError

    with pytest.raises(PluginError, match="autoregressive encoder"):
        objective("cpc", encoder("vit1d", 1, 250, patch=25, dim=16, depth=1, heads=2), 1, 250)


def test_cpc_encoder_context_is_causal_and_pools_mean_max_last() -> None:
    enc = encoder("cpc_encoder", 2, 50, features=8, hidden=6).eval()
    x = torch.randn(1, 2, 50)
    later = x.clone()
    later[..., 30:] = 5.0  # change only the future of step 29
    with torch.no_grad():
        a, b = enc.tokens(x), enc.tokens(later)
        assert torch.allclose(a[:, :30], b[:, :30]) and not torch.allclose(a[:, 30:], b[:, 30:])
        pooled = enc(x)
    assert torch.allclose(pooled, torch.cat([a.mean(1), a.amax(1), a[:, -1]], dim=1))
    assert enc.embed_dim == 18 and enc.token_dim == 6


# ------------------------------------------------------------------ MAE / ST-MEM
def test_st_mem_masks_each_lead_independently_with_the_same_count() -> None:
    """ST-MEM at 0.75 with 30 patches: int(30 x 0.25) = 7 kept, 23 hidden in every lead."""
    c, t = 12, 2250
    enc = encoder("st_mem_vit", c, t, fs=250.0, dim=16, depth=1, heads=2)
    obj = objective("mae", enc, c, t, fs=250.0, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    torch.manual_seed(0)
    masked = obj.sample_mask(4, torch.device("cpu")).view(4, c, 30)  # (B, C, P)
    assert (masked.sum(-1) == 23).all()
    assert len({tuple(row.tolist()) for row in masked[0]}) > 1  # leads hide different patches


def test_mae_encoder_never_sees_a_hidden_patch() -> None:
    """Changing hidden patches changes neither the visible tokens nor the loss's inputs."""
    for name in ("vit1d", "st_mem_vit"):
        c, t = 3, 250
        enc = encoder(name, c, t, patch=25, dim=16, depth=2, heads=2).eval()
        obj = objective("mae", enc, c, t, decoder_dim=16, decoder_depth=1, decoder_heads=2)
        x = torch.randn(2, c, t)
        masked = obj.sample_mask(2, torch.device("cpu"))  # (B, L)
        keep = (~masked).nonzero()[:, 1].view(2, -1)
        y = x.clone()
        if enc.lead_tokens:  # hidden (lead, patch) cells
            cell = masked.view(2, c, -1).repeat_interleave(25, dim=2)
        else:
            cell = masked.repeat_interleave(25, dim=1)[:, None].expand(-1, c, -1)
        y[cell] = 100.0
        with torch.no_grad():
            assert torch.allclose(enc.tokens(x, keep), enc.tokens(y, keep), atol=1e-5), name


def mae_reference(x: torch.Tensor, pred: torch.Tensor, masked: torch.Tensor, s: int,
                  per_lead: bool) -> float:  # fmt: skip
    """He et al.'s ``forward_loss`` with norm_pix_loss (and ST-MEM's per lead): patches by
    explicit loops, per-patch standardisation with the unbiased variance, mean over hidden."""
    b, c, t = x.shape
    p = t // s
    rows = []
    for i in range(b):
        if per_lead:
            rows.append([x[i, lead, j * s : (j + 1) * s] for lead in range(c) for j in range(p)])
        else:
            rows.append([torch.cat([x[i, lead, j * s:(j + 1) * s] for lead in range(c)])
                         for j in range(p)])  # fmt: skip
    target = torch.stack([torch.stack(r) for r in rows]).double()  # (B, L, d)
    mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
    target = (target - mean) / (var + 1e-6) ** 0.5
    loss = ((pred.double() - target) ** 2).mean(-1)
    return float((loss * masked).sum() / masked.sum())


@pytest.mark.parametrize("name", ["vit1d", "st_mem_vit"])
def test_mae_loss_equals_he_et_al(name: str) -> None:
    c, t, s = 2, 200, 25
    enc = encoder(name, c, t, patch=s, dim=16, depth=1, heads=2)
    obj = objective("mae", enc, c, t, decoder_dim=16, decoder_depth=1, decoder_heads=2).eval()
    bt = batch(3, c, t, seed=4)
    torch.manual_seed(9)
    ours = float(obj(bt, [])["loss"].detach())
    torch.manual_seed(9)
    masked = obj.sample_mask(3, torch.device("cpu"))
    with torch.no_grad():
        pred = obj.reconstruct(bt.signal, masked)
    assert ours == pytest.approx(mae_reference(bt.signal, pred, masked, s, obj.lead_tokens),
                                 rel=1e-5)  # fmt: skip
    assert masked.float().mean() == pytest.approx(1 - int(8 * 0.25) / 8)  # 6 of 8 hidden


def test_mae_refuses_cnns_and_names_simmim() -> None:
    from ssl_ecg import PluginError

    with pytest.raises(PluginError, match="simmim"):
        objective("mae", encoder("xresnet1d50", 12, 250), 12, 250)


# ------------------------------------------------------------------ SimMIM (1-D)
def test_simmim_scores_hidden_samples_only_with_l1() -> None:
    c, t = 2, 250
    enc = encoder("xresnet1d50", c, t)
    obj = objective("simmim", enc, c, t).eval()
    bt = batch(2, c, t, seed=6)
    torch.manual_seed(3)
    ours = float(obj(bt, [])["loss"])
    torch.manual_seed(3)
    hidden = obj.sample_mask(2, torch.device("cpu"))  # (B, T)
    with torch.no_grad():
        pred = obj.predict(bt.signal, hidden)
    err = (pred - bt.signal).abs()
    ref = float(err[hidden[:, None, :].expand(-1, c, -1)].mean())
    assert ours == pytest.approx(ref, rel=1e-5)
    # patches are aligned with the tokens: token i is centred on sample 32 i
    assert obj.origin == 16 and obj.n_tokens == 8
    starts = [int(np.flatnonzero(obj.patch_of.numpy() == i)[0]) for i in range(1, 7)]
    assert starts == [32 * i - 16 for i in range(1, 7)]
    for row in hidden:  # round(0.6 x 8) = 5 whole patches hidden per window
        assert obj.patch_of[row].unique().numel() == 5 == round(0.6 * obj.n_tokens)


# ------------------------------------------------------------------ SimCLR, BYOL
def test_simclr_is_nt_xent_over_the_2b_views() -> None:
    b, d = 5, 8
    enc = Identity(1, dim=d, stride=d)
    enc.embed_dim = d
    obj = objective("simclr", enc, 1, d, temperature=0.5)
    obj.head = torch.nn.Identity()
    v0, v1 = torch.randn(b, 1, d), torch.randn(b, 1, d)
    ours = float(obj(batch(b, 1, d), [v0, v1])["loss"])
    z = F.normalize(torch.cat([v0, v1]).flatten(1).double(), dim=1)  # (2B, D)
    sim = z @ z.T / 0.5
    sim.fill_diagonal_(-math.inf)
    pos = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    assert ours == pytest.approx(float(F.cross_entropy(sim, pos)), rel=1e-5)


def test_byol_defaults_are_the_papers() -> None:
    spec = REGISTRY.get("objective", "byol")
    cfg = spec.config()
    assert (cfg.hidden_dim, cfg.out_dim, cfg.momentum_base) == (4096, 256, 0.996)
    assert spec.train_defaults["optimizer"] == "lars"
