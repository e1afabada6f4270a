"""The training loop: any encoder x objective x augmentations, as the recipe composes them.

This is the minimal core (single process, CPU or CUDA). It never names a method: it asks the
objective for ``n_views`` augmented views and minimises the ``loss`` it returns.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ssl_ecg.build import build
from ssl_ecg.data.prepare import prepare, training_records
from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Batch
from ssl_ecg.recipe import Recipe
from ssl_ecg.views import make_views


class TrainingDiverged(SslEcgError):
    """The loss became NaN or infinite."""


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SslEcgError(f"train.device = '{name}' but no CUDA device is available; use 'auto'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``path`` via a temporary file so a crash never leaves half a checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def plot_losses(metrics: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [m["step"] for m in metrics]
    for key in [k for k in metrics[0] if k not in ("step", "lr", "samples_per_s")]:
        ax.plot(steps, [m[key] for m in metrics], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(recipe: Recipe, run_dir: Path, progress: bool = True) -> list[dict[str, float]]:
    """Train as the recipe says; write recipe, metrics, checkpoint and plot into ``run_dir``."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    cfg = recipe.train
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    built = build(recipe)
    store = prepare(recipe, progress=progress).store
    pre = recipe.preprocess
    windows = store.windows(pre.window_s, pre.stride_s, training_records(store, recipe))
    n = len(windows)
    if n < cfg.batch_size:
        raise SslEcgError(
            f"{recipe.path}: train.batch_size = {cfg.batch_size} but the data has only {n} windows"
        )

    objective = built.objective.to(device)
    optimizer = create_optimizer_v2(objective, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = CosineLRScheduler(
        optimizer,
        t_initial=cfg.steps,
        warmup_t=cfg.warmup_steps,
        warmup_lr_init=cfg.lr * 1e-2,
        lr_min=cfg.lr * 1e-2,
        t_in_epochs=False,
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    (run_dir / "recipe.toml").write_text(recipe.to_toml(), encoding="utf-8")
    metrics: list[dict[str, float]] = []
    metrics_file = (run_dir / "metrics.jsonl").open("w", encoding="utf-8")

    def save(step: int) -> None:
        atomic_save(
            {
                "step": step,
                "recipe": recipe.to_toml(),
                "encoder": built.encoder.state_dict(),
                "objective": objective.state_dict(),
                "optimizer": optimizer.state_dict(),
            },
            run_dir / "checkpoints" / "last.pt",
        )

    order = torch.randperm(n, generator=gen)
    pos = 0
    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    tick = time.perf_counter()
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("train", total=cfg.steps, info="")
        for step in range(1, cfg.steps + 1):
            if pos + cfg.batch_size > n:
                order, pos = torch.randperm(n, generator=gen), 0
            wb = windows.read(order[pos : pos + cfg.batch_size].numpy())
            pos += cfg.batch_size
            batch = Batch(
                torch.from_numpy(wb.signal).to(device),
                store.fs,
                torch.from_numpy(wb.lead_mask).to(device),
                torch.from_numpy(wb.rpeaks).to(device),
            )
            views = make_views(batch, built.augmentations, objective.n_views, aug_gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = objective(batch, views)
            loss = out["loss"]
            if not torch.isfinite(loss):
                bad = [k for k, v in out.items() if not torch.isfinite(v)]
                raise TrainingDiverged(
                    f"loss is {loss.item()} at step {step} (non-finite parts: {', '.join(bad)}); "
                    f"the last good checkpoint is {run_dir / 'checkpoints' / 'last.pt'}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step_update(step)
            objective.on_step(step, cfg.steps)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                row = {"step": step, **{k: float(v.detach()) for k, v in out.items()}}
                row["lr"] = optimizer.param_groups[0]["lr"]
                row["samples_per_s"] = cfg.batch_size * cfg.log_every / max(now - tick, 1e-9)
                tick = now
                metrics.append(row)
                metrics_file.write(json.dumps(row) + "\n")
                metrics_file.flush()
                bar.update(
                    task, info=f"loss {row['loss']:.4f}  {row['samples_per_s']:.0f} samples/s"
                )
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save(step)
            bar.update(task, completed=step)
    metrics_file.close()
    if metrics and all(math.isfinite(m["loss"]) for m in metrics):
        plot_losses(metrics, run_dir / "loss.png")
    return metrics
