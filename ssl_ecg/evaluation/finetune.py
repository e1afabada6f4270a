"""The fine-tuning protocol: the encoder and a linear head trained end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ssl_ecg.interfaces import Encoder
from ssl_ecg.tasks import LabelledWindows


def finetune_predict(encoder: Encoder, train: LabelledWindows, test: LabelledWindows,
                     n_classes: int, multilabel: bool, steps: int, device: torch.device,
                     seed: int) -> np.ndarray:  # fmt: skip
    """Train encoder + linear head end to end (AdamW, class-balanced loss); test probabilities."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(encoder.embed_dim, n_classes)
    model = torch.nn.Sequential(encoder, head).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    y = torch.from_numpy(train.y)
    if multilabel:
        pos = y.float().mean(0).clamp(1e-3, 1 - 1e-3)
        loss_fn: Any = torch.nn.BCEWithLogitsLoss(pos_weight=((1 - pos) / pos).to(device))
    else:
        counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
        weight = (counts.sum() / counts / n_classes).to(device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(train), size=min(128, len(train)))
        x = torch.from_numpy(train.read(idx)).to(device)
        target = y[idx].to(device)
        loss = loss_fn(model(x), target.float() if multilabel else target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    outs = []
    with torch.no_grad():
        for lo in range(0, len(test), 256):
            x = torch.from_numpy(test.read(np.arange(lo, min(lo + 256, len(test))))).to(device)
            logits = model(x).float()
            outs.append((logits.sigmoid() if multilabel else logits.softmax(-1)).cpu().numpy())
    return np.concatenate(outs)
