"""The fine-tuning protocol: the encoder and a linear head trained end to end, the checkpoint
kept by its score on validation windows (never the test windows), stopping early when that
score stops improving. From a random-init encoder this is the supervised-from-scratch baseline
with the same budget and the same model selection."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ssl_ecg.interfaces import Encoder
from ssl_ecg.tasks import LabelledWindows


@dataclasses.dataclass(frozen=True)
class FinetuneSetup:
    """The budget and model selection of one fine-tuning run."""

    steps: int
    seed: int = 0
    batch_size: int = 128
    lr: float = 3e-4  # AdamW, weight decay 0.01, no schedule
    checks: int = 10  # validation checks over the run (every steps / checks steps)
    patience: int = 4  # checks without improvement before stopping early
    random_crops: bool = False  # draw random crops of the training records (needs train.span)


def _loss_fn(y: torch.Tensor, n_classes: int, multilabel: bool, device: torch.device) -> Any:
    """Class-balanced BCE (multi-label) or cross-entropy: the scores are macro averages."""
    if multilabel:
        pos = y.float().mean(0).clamp(1e-3, 1 - 1e-3)
        return torch.nn.BCEWithLogitsLoss(pos_weight=((1 - pos) / pos).to(device))
    counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
    return torch.nn.CrossEntropyLoss(weight=(counts.sum() / counts / n_classes).to(device))


@torch.no_grad()
def predict(model: torch.nn.Module, windows: LabelledWindows, multilabel: bool,
            device: torch.device) -> np.ndarray:  # fmt: skip
    """Probabilities (N, K) of every window, in batches of 256."""
    model.eval()
    outs = []
    for lo in range(0, len(windows), 256):
        x = torch.from_numpy(windows.read(np.arange(lo, min(lo + 256, len(windows)))))
        logits = model(x.to(device)).float()
        outs.append((logits.sigmoid() if multilabel else logits.softmax(-1)).cpu().numpy())
    model.train()
    return np.concatenate(outs)


def finetune_predict(
    encoder: Encoder, train: LabelledWindows, test: LabelledWindows, n_classes: int,
    multilabel: bool, setup: FinetuneSetup, device: torch.device,
    val: LabelledWindows | None = None,
    val_score: Callable[[np.ndarray], float | None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """Train encoder + linear head end to end; test probabilities of the checkpoint with the
    best ``val_score`` of its predictions on ``val`` (the last one when there is no ``val``),
    and what was selected: ``{"selected_step", "val_score", "stopped_at", "checks"}``."""
    torch.manual_seed(setup.seed)
    head = torch.nn.Linear(encoder.embed_dim, n_classes)
    model = torch.nn.Sequential(encoder, head).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=setup.lr, weight_decay=0.01)
    y = torch.from_numpy(train.y)
    loss_fn = _loss_fn(y, n_classes, multilabel, device)
    rng = np.random.default_rng(setup.seed)
    every = max(1, setup.steps // max(setup.checks, 1))
    best: tuple[float, int, dict[str, Any]] | None = None
    checks: list[list[float | None]] = []
    step = 0
    for step in range(1, setup.steps + 1):
        idx = rng.integers(0, len(train), size=min(setup.batch_size, len(train)))
        starts = train.subset(idx).random_crops(rng) if setup.random_crops else train.start[idx]
        x = torch.from_numpy(train.store.read_signals(starts, train.length)).to(device)
        target = y[idx].to(device)
        loss = loss_fn(model(x), target.float() if multilabel else target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if val is None or val_score is None or (step % every and step != setup.steps):
            continue
        score = val_score(predict(model, val, multilabel, device))
        checks.append([step, score])
        if score is not None and (best is None or score > best[0]):
            best = (score, step, copy.deepcopy(model.state_dict()))
        elif best is not None and (step - best[1]) // every >= setup.patience:
            break  # early stopping: no better validation score for `patience` checks
    if best is not None:
        model.load_state_dict(best[2])
    info = {"selected_step": best[1] if best else step, "val_score": best[0] if best else None,
            "stopped_at": step, "checks": checks}  # fmt: skip
    return predict(model, test, multilabel, device), info
