"""The one training core: any encoder x objective x augmentations, as the recipe composes them.

It never names a method: it asks the objective for ``n_views`` augmented views, minimises the
``loss`` it returns and calls ``on_step`` after every optimizer step. CPU or CUDA (bf16
autocast), torchrun DDP, atomic checkpoints, exact resume (model, optimizer, scheduler, RNG and
data-order state), metrics and a loss plot in the run directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ssl_ecg import distributed
from ssl_ecg.build import build_model, check_views
from ssl_ecg.checkpoint import load_checkpoint, load_state, save_checkpoint
from ssl_ecg.config import TrainConfig
from ssl_ecg.data.store import MixedWindows
from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Batch, LoggerContext
from ssl_ecg.loggers import RunLoggers, open_loggers, run_params, train_metrics
from ssl_ecg.outputs import atomic_write, output_dir, remove_stale, run_lock
from ssl_ecg.recipe import DataRecipe, Recipe
from ssl_ecg.runtime import data_contract, pick_device, seed_everything
from ssl_ecg.sources import Prepared, build_sources, prepare_all, recipe_leads, training_records
from ssl_ecg.views import make_views

LAST = Path("checkpoints") / "last.pt"


class TrainingDiverged(SslEcgError):
    """The loss became NaN or infinite."""


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


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The ``[train]`` optimizer (timm's; no weight decay on biases and norm weights)."""
    from timm.optim import create_optimizer_v2

    name = {"sgd": "momentum"}.get(cfg.optimizer, cfg.optimizer)  # timm's "sgd" is Nesterov
    extra = {"betas": tuple(cfg.betas)} if cfg.optimizer in ("adam", "adamw") else {}
    return create_optimizer_v2(model, name, lr=cfg.peak_lr(), weight_decay=cfg.weight_decay,
                               momentum=cfg.momentum, **extra)  # fmt: skip


def source_names(recipe: DataRecipe) -> list[str]:
    """A name per source for patient ids (``name:patient``): its dataset, numbered if two
    sources read the same dataset."""
    names = [src.name for src in recipe.sources]
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]


def training_windows(recipe: Recipe, prepared: list[Prepared], n_segments: int) -> MixedWindows:
    """The training windows of every source (its split only), as one weighted set."""
    pre = recipe.preprocess
    parts = [p.store.windows(pre.window_s, pre.stride_s,
                             training_records(p.store, recipe, p.source), n_segments)
             for p in prepared]  # fmt: skip
    weights = [p.source.weight if p.source else 1.0 for p in prepared]
    return MixedWindows(parts, weights, source_names(recipe))


def pretraining_data(recipe: Recipe, prepared: list[Prepared], windows: MixedWindows,
                     leads: list[str], n_patients: int) -> dict[str, Any]:  # fmt: skip
    """``data.json``: the contract and, per source, the records and patients trained on."""
    sources = []
    for p, part, name in zip(prepared, windows.parts, source_names(recipe), strict=True):
        recs = np.unique(part.record)
        sources.append({
            "name": name, "dataset": p.store.meta["dataset"]["name"],
            "key": p.source.key if p.source else "data",
            "records": [p.store.record_ids[i] for i in recs],
            "patients": sorted({p.store.patient_ids[i] for i in recs}),
            "fingerprints": [p.store.records[i].get("fingerprint", "") for i in recs],
        })  # fmt: skip
    return {
        "contract": data_contract(recipe, leads),
        "sources": sources,
        "records": [f"{s['name']}:{r}" for s in sources for r in s["records"]],
        "patients": [f"{s['name']}:{p}" for s in sources for p in s["patients"]],
        "n_patients": n_patients,  # patients of the prepared data (objectives' context)
        "recipe_file": str(recipe.path.resolve()),  # relative data paths resolve against it
    }


def keep_metrics(path: Path, upto: int) -> list[dict[str, float]]:
    """The logged rows up to step ``upto``; rows past it (logged after the checkpoint a run
    resumes from, or by a run killed before its first checkpoint) are appended to
    ``metrics.dropped.jsonl`` and synced *before* ``metrics.jsonl`` is atomically replaced."""
    if not path.is_file():
        return []
    keep, drop = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            (keep if row["step"] <= upto else drop).append(line)
        except (ValueError, KeyError, TypeError):  # a line cut short by a kill
            drop.append(line)
    if drop:
        with (path.parent / "metrics.dropped.jsonl").open("a", encoding="utf-8") as f:
            f.write("".join(f"{line}\n" for line in drop))
            f.flush()
            os.fsync(f.fileno())
        atomic_write(path, "".join(f"{line}\n" for line in keep))
    return [json.loads(line) for line in keep]


def recipe_change(saved: str, recipe: Recipe) -> str:
    """The dotted keys (two at most) whose values differ between a saved resolved recipe and
    this one."""
    import tomllib

    def show(value: Any) -> str:
        return "unset" if value is None else repr(value)

    def walk(a: Any, b: Any, key: str) -> list[str]:
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(set(a) | set(b))
            return [f for k in keys for f in walk(a.get(k), b.get(k), f"{key}.{k}" if key else k)]
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return [f for i, (x, y) in enumerate(zip(a, b, strict=True))
                    for f in walk(x, y, f"{key}[{i}]")]  # fmt: skip
        return [] if a == b else [f"{key} = {show(a)} in the run, {show(b)} now"]

    return "; ".join(walk(tomllib.loads(saved), recipe.resolved(), "")[:2]) or "(formatting only)"


def train(
    recipe: Recipe, run_dir: Path, progress: bool = True, resume: bool = False
) -> list[dict[str, float]]:
    """Train as the recipe says; write recipe, metrics, checkpoints and plot into ``run_dir``.

    The run directory is checked before any work and locked for the run (one process writes
    into it at a time); an empty list means there was nothing to do (a finished run resumed)."""
    output_dir(run_dir, "--run-dir")
    main = os.environ.get("RANK", "0") == "0"
    with run_lock(run_dir) if main else contextlib.nullcontext():
        remove_stale(run_dir / "checkpoints", ".*.tmp-*")
        remove_stale(run_dir, ".*.tmp-*")
        cfg = recipe.train
        ckpt_path = run_dir / LAST
        state = None
        if resume:
            state = load_checkpoint(ckpt_path)
            if state["recipe"] != recipe.to_toml():
                raise SslEcgError(
                    f"{run_dir}: --resume with another recipe than the run's recipe.toml "
                    f"({recipe_change(state['recipe'], recipe)}); resume with the same recipe "
                    "and --set values"
                )
            if int(state["step"]) >= cfg.steps:
                return []
        elif ckpt_path.is_file():
            raise SslEcgError(f"{run_dir}: already holds a run; pass --resume or another --run-dir")
        seed_everything(cfg.seed)
        d, device = distributed.setup(pick_device(cfg.device))
        try:
            return _Run(recipe, run_dir, progress and d.main, d, device).fit(state)
        finally:
            distributed.teardown(d)


class _Run:
    """One training run, in named steps: data, model, resume, step, log, checkpoint."""

    def __init__(self, recipe: Recipe, run_dir: Path, progress: bool, d: distributed.Dist,
                 device: torch.device) -> None:  # fmt: skip
        from timm.scheduler import CosineLRScheduler

        cfg = recipe.train
        self.recipe, self.run_dir, self.progress, self.d, self.device = (
            recipe,
            run_dir,
            progress,
            d,
            device,
        )
        built = self.load_data(recipe, d, progress)
        self.objective = built.objective.to(device)
        self.model: torch.nn.Module = self.objective
        if d.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device] if device.type == "cuda" else None
            self.model = DDP(self.objective, device_ids=ids)
        self.optimizer = make_optimizer(self.objective, cfg)
        lr = cfg.peak_lr()
        floor = 1.0 if cfg.schedule == "constant" else cfg.lr_floor
        self.scheduler = CosineLRScheduler(
            self.optimizer, t_initial=cfg.steps, warmup_t=cfg.warmup(),
            warmup_lr_init=lr * cfg.lr_floor, lr_min=lr * floor, t_in_epochs=False,
        )  # fmt: skip
        torch.manual_seed(cfg.seed + 7919 * d.rank)  # per-rank randomness (e.g. MAE masks)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # data order: the same on every rank
        self.aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1 + 7919 * d.rank)
        self.order = self.windows.order(self.gen)
        self.pos, self.start = 0, 1
        self.metrics: list[dict[str, float]] = []
        self.loggers = RunLoggers()  # rank 0 opens the recipe's [[loggers]] in fit()

    def load_data(self, recipe: Recipe, d: distributed.Dist, progress: bool) -> Any:
        """Build the sources once, prepare them (rank 0 first), build the model for their
        leads and patients, and check the windows fit the objective and batch size."""
        cfg = recipe.train
        sources = build_sources(recipe)  # once: building a source can scan every header
        leads = recipe_leads(recipe, sources)
        if d.main:  # one process builds the caches, the others then find them
            prepared = prepare_all(recipe, sources, progress=progress)
        distributed.barrier(d)
        if not d.main:
            prepared = prepare_all(recipe, sources)
        n_patients = sum(len(set(p.store.patient_ids)) for p in prepared)
        built = build_model(recipe, leads, n_patients)
        check_views(recipe, built)
        self.augmentations = built.augmentations
        self.windows = training_windows(recipe, prepared, built.objective.n_segments)
        n = len(self.windows)
        longest = max(float(p.store.rec_len.max()) / p.store.fs for p in prepared)
        need = recipe.preprocess.window_s * built.objective.n_segments
        if need > longest:
            raise SslEcgError(
                f"{recipe.path}: data.window_s = {recipe.preprocess.window_s:g} s"
                + (f" x {built.objective.n_segments} segments" if need > recipe.preprocess.window_s
                   else "")
                + f" is longer than every record (the longest is {longest:g} s); "
                "shorten data.window_s"
            )  # fmt: skip
        if n < cfg.batch_size:
            segs = built.objective.n_segments
            raise SslEcgError(
                f"{recipe.path}: train.batch_size = {cfg.batch_size} but the data has only {n} "
                f"windows" + (f" followed by {segs - 1} more in their record" if segs > 1 else "")
            )
        self.fs = prepared[0].store.fs
        self.data = pretraining_data(recipe, prepared, self.windows, leads, n_patients)
        return built

    # ------------------------------------------------------------------ steps
    def resume(self, state: dict[str, Any]) -> None:
        d = self.d
        if len(state["rng"]["augment"]) != d.world:
            raise SslEcgError(
                f"{self.run_dir}: the run used {len(state['rng']['augment'])} processes; "
                f"resume it with as many (not {d.world})"
            )
        ckpt = self.run_dir / LAST
        hint = (
            "the recipe now builds another model than the checkpointed one; resume with the "
            "run's recipe"
        )
        load_state(self.objective, state["objective"], ckpt, hint=hint)
        load_state(self.optimizer, state["optimizer"], ckpt)
        self.scheduler.load_state_dict(state["scheduler"])
        if len(state["order"]) and int(state["order"].max()) >= len(self.windows):
            raise SslEcgError(
                f"{ckpt}: the checkpoint's data order reaches window {int(state['order'].max())} "
                f"but the data now has {len(self.windows)}; the data changed since the run "
                "started: resume on the same data, or start a new run"
            )
        torch.set_rng_state(state["rng"]["torch"][d.rank])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"][d.rank], self.device)
        self.gen.set_state(state["rng"]["data"])
        self.aug_gen.set_state(state["rng"]["augment"][d.rank])
        self.order, self.pos, self.start = state["order"], int(state["pos"]), int(state["step"]) + 1
        if d.main:
            self.metrics = keep_metrics(self.run_dir / "metrics.jsonl", self.start - 1)

    def batch(self) -> Batch:
        """The next batch of this rank, on the device."""
        cfg, d, dev = self.recipe.train, self.d, self.device
        if self.pos + cfg.batch_size > len(self.windows):
            self.order, self.pos = self.windows.order(self.gen), 0
        idx = self.order[self.pos : self.pos + cfg.batch_size][d.rank :: d.world]  # my share
        self.pos += cfg.batch_size
        wb = self.windows.read(idx.numpy())
        segments = None if wb.segments is None else torch.from_numpy(wb.segments).to(dev)
        return Batch(
            torch.from_numpy(wb.signal).to(dev, non_blocking=True), self.fs,
            torch.from_numpy(wb.lead_mask).to(dev), torch.from_numpy(wb.rpeaks).to(dev),
            torch.from_numpy(wb.patient).to(dev), segments,
        )  # fmt: skip

    def step(self, step: int) -> dict[str, torch.Tensor]:
        cfg, dev = self.recipe.train, self.device
        batch = self.batch()
        views = make_views(batch, self.augmentations, self.objective.n_views, self.aug_gen)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out = self.model(batch, views)
        loss = out["loss"]
        if not distributed.all_true(bool(torch.isfinite(loss)), self.d, dev):
            bad = [k for k, v in out.items() if not torch.isfinite(v)] or ["(another rank)"]
            raise TrainingDiverged(
                f"loss is {loss.item()} at step {step} (non-finite parts: {', '.join(bad)}); "
                f"the last good checkpoint is {self.run_dir / LAST}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.objective.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step_update(step)
        self.objective.on_step(step, cfg.steps)
        return out

    def log(self, step: int, out: dict[str, torch.Tensor], samples_per_s: float) -> str:
        row = distributed.mean({k: float(v.detach()) for k, v in out.items()}, self.d, self.device)
        row = {"step": step, **row, "lr": self.optimizer.param_groups[0]["lr"],
               "samples_per_s": samples_per_s}  # fmt: skip
        self.metrics.append(row)
        if self.d.main:
            self.metrics_file.write(json.dumps(row) + "\n")
            self.metrics_file.flush()
            self.loggers.log_metrics(train_metrics(row), step)
        return f"loss {row['loss']:.4f}  {row['samples_per_s']:.0f} samples/s"

    def checkpoint(self, step: int, path: Path | None = None) -> None:
        d, dev = self.d, self.device

        def per_rank(value: torch.Tensor) -> list[torch.Tensor]:
            if not d.active:
                return [value]
            gathered = [torch.empty_like(value) for _ in range(d.world)]
            torch.distributed.all_gather_object(gathered, value)
            return gathered

        torch_states, aug_states = (
            per_rank(torch.get_rng_state()),
            per_rank(self.aug_gen.get_state()),
        )
        cuda_states = per_rank(torch.cuda.get_rng_state(dev)) if dev.type == "cuda" else []
        if not d.main:
            return
        rng = {"torch": torch_states, "data": self.gen.get_state(), "augment": aug_states}
        if dev.type == "cuda":
            rng["cuda"] = cuda_states
        save_checkpoint(
            {
                "step": step, "recipe": self.recipe.to_toml(),
                "objective": self.objective.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng, "order": self.order, "pos": self.pos, "world": d.world,
            },
            path or self.run_dir / LAST,
        )  # fmt: skip

    def snapshot(self, step: int) -> None:
        """Keep the weights at a ``train.save_steps`` step (learning curves)."""
        if step in self.recipe.train.save_steps:
            self.checkpoint(step, self.run_dir / "checkpoints" / f"step_{step:07d}.pt")

    # ------------------------------------------------------------------ the loop
    def open_outputs(self, fresh: bool) -> None:
        """Rank 0: the run's recipe, data, metrics file and loggers (which get the run's
        parameters); a resumed run appends to all of them."""
        if not self.d.main:
            return
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        atomic_write(self.run_dir / "recipe.toml", self.recipe.to_toml())
        atomic_write(self.run_dir / "data.json", json.dumps(self.data, indent=1))
        if fresh:  # a fresh run keeps no rows of an earlier, killed one
            keep_metrics(self.run_dir / "metrics.jsonl", 0)
        self.metrics_file = (self.run_dir / "metrics.jsonl").open("a", encoding="utf-8")
        context = LoggerContext(self.run_dir, "new" if fresh else "resume", self.start - 1)
        self.loggers = open_loggers(self.recipe.loggers, context, self.recipe.path)
        self.loggers.log_params(run_params(self.recipe.resolved(), self.data["contract"]))

    def fit(self, state: dict[str, Any] | None) -> list[dict[str, float]]:
        if state is not None:
            self.resume(state)
        self.open_outputs(fresh=state is None)
        try:
            self.loop()
        finally:
            self.loggers.close()
        self.finish()
        return self.metrics

    def loop(self) -> None:
        """Step, log, checkpoint, from ``self.start`` to the last step."""
        cfg, d = self.recipe.train, self.d
        if self.start == 1:
            self.snapshot(0)  # the random init of this seed
        columns = (
            TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        )  # fmt: skip
        tick, since = time.perf_counter(), 0
        with Progress(*columns, disable=not self.progress) as bar:
            task = bar.add_task("train", total=cfg.steps, completed=self.start - 1, info="")
            for step in range(self.start, cfg.steps + 1):
                out = self.step(step)
                since += 1
                if step % cfg.log_every == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    rate = cfg.batch_size * since / max(now - tick, 1e-9)
                    info = self.log(step, out, rate)
                    bar.update(task, info=info)
                    if not self.progress and d.main:  # no terminal: a plain line per log
                        print(f"step {step}/{cfg.steps}  {info}", file=sys.stderr, flush=True)
                    tick, since = now, 0
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self.checkpoint(step)
                self.snapshot(step)
                bar.update(task, completed=step)

    def finish(self) -> None:
        prints = distributed.fingerprints(self.objective, self.d, self.device)
        if not self.d.main:
            return
        self.metrics_file.close()
        if self.d.active:
            same = all(p == prints[0] for p in prints)
            (self.run_dir / "ddp.json").write_text(
                json.dumps({"world_size": self.d.world, "identical": same, "fingerprints": prints})
            )
            if not same:
                raise SslEcgError(f"{self.run_dir}: model weights differ between DDP ranks")
        if self.metrics and all(math.isfinite(m["loss"]) for m in self.metrics):
            plot_losses(self.metrics, self.run_dir / "loss.png")
