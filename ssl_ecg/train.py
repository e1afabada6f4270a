"""The one training core: any encoder x objective x augmentations, as the recipe composes them.

It never names a method: it asks the objective for ``n_views`` augmented views, minimises the
``loss`` it returns and calls ``on_step`` after every optimizer step. CPU or CUDA (bf16
autocast), torchrun DDP, atomic checkpoints, exact resume (model, optimizer, scheduler, RNG and
data-order state), metrics and a loss plot in the run directory.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ssl_ecg import distributed
from ssl_ecg.build import build
from ssl_ecg.checkpoint import load_checkpoint, save_checkpoint
from ssl_ecg.data.prepare import prepare, training_records
from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Batch
from ssl_ecg.recipe import Recipe
from ssl_ecg.views import make_views

LAST = Path("checkpoints") / "last.pt"


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


def data_contract(recipe: Recipe, leads: list[str]) -> dict[str, Any]:
    """What an encoder trained on this recipe's data expects of its input."""
    pre = recipe.preprocess
    return {
        "fs": pre.fs,
        "leads": leads,
        "window_s": pre.window_s,
        "n_samples": round(pre.window_s * pre.fs),
        "preprocessing": {**pre.stored(), "leads": leads},  # as the cache records it
        "dataset": recipe.data.name,
    }


def _read_metrics(path: Path, upto: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= upto]


def train(
    recipe: Recipe, run_dir: Path, progress: bool = True, resume: bool = False
) -> list[dict[str, float]]:
    """Train as the recipe says; write recipe, metrics, checkpoints and plot into ``run_dir``."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler

    cfg = recipe.train
    ckpt_path = run_dir / LAST
    state = None
    if resume:
        state = load_checkpoint(ckpt_path)
        if state["recipe"] != recipe.to_toml():
            raise SslEcgError(
                f"{run_dir}: --resume with a different recipe than the run's recipe.toml; "
                "resume with the same recipe and --set values"
            )
    elif ckpt_path.is_file():
        raise SslEcgError(f"{run_dir}: already holds a run; pass --resume or another --run-dir")

    seed_everything(cfg.seed)
    d, device = distributed.setup(pick_device(cfg.device))
    per_rank = distributed.shard(cfg.batch_size, d)
    try:
        return _train(recipe, run_dir, progress and d.main, state, d, device, per_rank,
                      create_optimizer_v2, CosineLRScheduler)  # fmt: skip
    finally:
        distributed.teardown(d)


def _train(
    recipe: Recipe,
    run_dir: Path,
    progress: bool,
    state: dict[str, Any] | None,
    d: distributed.Dist,
    device: torch.device,
    per_rank: int,
    create_optimizer_v2: Any,
    scheduler_cls: Any,
) -> list[dict[str, float]]:
    cfg = recipe.train
    built = build(recipe)
    if d.main:  # one process builds the cache, the others then find it
        prepare(recipe, progress=progress)
    distributed.barrier(d)
    store = prepare(recipe).store
    pre = recipe.preprocess
    train_records = training_records(store, recipe)
    windows = store.windows(pre.window_s, pre.stride_s, train_records)
    n = len(windows)
    if n < cfg.batch_size:
        raise SslEcgError(
            f"{recipe.path}: train.batch_size = {cfg.batch_size} but the data has only {n} windows"
        )

    objective = built.objective.to(device)
    model: torch.nn.Module = objective
    if d.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(objective, device_ids=[device] if device.type == "cuda" else None)
    optimizer = create_optimizer_v2(objective, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = scheduler_cls(
        optimizer, t_initial=cfg.steps, warmup_t=cfg.warmup_steps, warmup_lr_init=cfg.lr * 1e-2,
        lr_min=cfg.lr * 1e-2, t_in_epochs=False,
    )  # fmt: skip
    torch.manual_seed(cfg.seed + 7919 * d.rank)  # per-rank randomness (e.g. MAE masks)
    gen = torch.Generator().manual_seed(cfg.seed)  # data order: the same on every rank
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1 + 7919 * d.rank)
    order = torch.randperm(n, generator=gen)
    pos, start = 0, 1
    metrics_path = run_dir / "metrics.jsonl"
    if state is not None:
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if len(state["rng"]["augment"]) != d.world:
            raise SslEcgError(
                f"{run_dir}: the run used {len(state['rng']['augment'])} processes; "
                f"resume it with as many (not {d.world})"
            )
        torch.set_rng_state(state["rng"]["torch"][d.rank])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"][d.rank], device)
        gen.set_state(state["rng"]["data"])
        aug_gen.set_state(state["rng"]["augment"][d.rank])
        order, pos, start = state["order"], int(state["pos"]), int(state["step"]) + 1
    metrics = _read_metrics(metrics_path, start - 1) if state is not None else []
    leads = list(store.leads)
    if d.main:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.toml").write_text(recipe.to_toml(), encoding="utf-8")
        pretrained_on = {
            "contract": data_contract(recipe, leads),
            "records": [store.record_ids[i] for i in np.unique(windows.record)],
            "patients": sorted({store.patient_ids[i] for i in np.unique(windows.record)}),
        }
        (run_dir / "data.json").write_text(json.dumps(pretrained_on, indent=1))
        metrics_file = metrics_path.open("w", encoding="utf-8")
        for row in metrics:
            metrics_file.write(json.dumps(row) + "\n")

    def per_rank(value: torch.Tensor) -> list[torch.Tensor]:
        if not d.active:
            return [value]
        gathered = [torch.empty_like(value) for _ in range(d.world)]
        torch.distributed.all_gather_object(gathered, value)
        return gathered

    def save(step: int) -> None:
        torch_states, aug_states = per_rank(torch.get_rng_state()), per_rank(aug_gen.get_state())
        cuda_states = per_rank(torch.cuda.get_rng_state(device)) if device.type == "cuda" else []
        if not d.main:
            return
        rng = {"torch": torch_states, "data": gen.get_state(), "augment": aug_states}
        if device.type == "cuda":
            rng["cuda"] = cuda_states
        save_checkpoint(
            {
                "step": step, "recipe": recipe.to_toml(), "objective": objective.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng, "order": order, "pos": pos, "world": d.world,
            },
            run_dir / LAST,
        )  # fmt: skip

    columns = (
        TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    tick, since = time.perf_counter(), 0
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=start - 1, info="")
        for step in range(start, cfg.steps + 1):
            if pos + cfg.batch_size > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos : pos + cfg.batch_size][d.rank :: d.world]  # this rank's share
            pos += cfg.batch_size
            wb = windows.read(idx.numpy())
            batch = Batch(
                torch.from_numpy(wb.signal).to(device, non_blocking=True),
                store.fs,
                torch.from_numpy(wb.lead_mask).to(device),
                torch.from_numpy(wb.rpeaks).to(device),
            )
            views = make_views(batch, built.augmentations, objective.n_views, aug_gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = model(batch, views)
            loss = out["loss"]
            if not distributed.all_true(bool(torch.isfinite(loss)), d, device):
                bad = [k for k, v in out.items() if not torch.isfinite(v)] or ["(another rank)"]
                raise TrainingDiverged(
                    f"loss is {loss.item()} at step {step} (non-finite parts: {', '.join(bad)}); "
                    f"the last good checkpoint is {run_dir / LAST}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step_update(step)
            objective.on_step(step, cfg.steps)
            since += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                row = distributed.mean({k: float(v.detach()) for k, v in out.items()}, d, device)
                row = {"step": step, **row, "lr": optimizer.param_groups[0]["lr"]}
                row["samples_per_s"] = cfg.batch_size * since / max(now - tick, 1e-9)
                tick, since = now, 0
                metrics.append(row)
                if d.main:
                    metrics_file.write(json.dumps(row) + "\n")
                    metrics_file.flush()
                info = f"loss {row['loss']:.4f}  {row['samples_per_s']:.0f} samples/s"
                bar.update(task, info=info)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save(step)
            bar.update(task, completed=step)
    prints = distributed.fingerprints(objective, d, device)
    if d.main:
        metrics_file.close()
        if d.active:
            same = all(p == prints[0] for p in prints)
            (run_dir / "ddp.json").write_text(
                json.dumps({"world_size": d.world, "identical": same, "fingerprints": prints})
            )
            if not same:
                raise SslEcgError(f"{run_dir}: model weights differ between DDP ranks")
        if metrics and all(math.isfinite(m["loss"]) for m in metrics):
            plot_losses(metrics, run_dir / "loss.png")
    return metrics
