"""Training-core figures, measured side by side in one run:

1. core / bare-loop throughput on the same model and batch size (target >= 0.95): the core's
   full step (cache read, views, autocast, finite check, clipping, scheduler, on_step,
   logging) against a bare PyTorch loop doing only forward, backward and optimizer step on one
   fixed batch. Run without augmentations so the ratio is the core's own overhead;
2. the share of a step spent making augmented views with the recipe's augmentations
   (target <= 10 % on CPU);
3. samples/s for every encoder x objective the registry holds (or why a pair is refused).

    python benchmarks/train_core.py [--recipe recipes/hybrid.toml] [--steps 40] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ssl_ecg.build import build_model
from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Batch
from ssl_ecg.recipe import load_recipe
from ssl_ecg.registry import get_registry
from ssl_ecg.runtime import seed_everything
from ssl_ecg.sources import prepare
from ssl_ecg.train import train
from ssl_ecg.views import make_views

REPO = Path(__file__).resolve().parents[1]


def core_rate(recipe_path: Path, sets: list[str], steps: int, tmp: Path) -> float:
    """Samples/s of the training core, from its own log, after the first 5 steps."""
    sets = [*sets, f"train.steps={steps}", "train.log_every=1", f"train.checkpoint_every={steps}"]
    run = tmp / f"run-{time.monotonic_ns()}"
    train(load_recipe(recipe_path, sets), run, progress=False)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][5:]
    seconds_per_sample = [1 / r["samples_per_s"] for r in rows]  # one logged step each
    return 1 / statistics.mean(seconds_per_sample)


def bare_rate(recipe_path: Path, sets: list[str], steps: int) -> float:
    """Samples/s of forward + backward + AdamW step on one fixed batch, nothing else."""
    from timm.optim import create_optimizer_v2

    recipe = load_recipe(recipe_path, sets)
    store = prepare(recipe).store
    seed_everything(recipe.train.seed)
    built = build_model(recipe, list(store.leads))
    model = built.objective
    opt = create_optimizer_v2(model, "adamw", lr=recipe.train.lr, weight_decay=0.05)
    b = recipe.train.batch_size
    wb = store.windows(recipe.preprocess.window_s, None).read(torch.arange(b).numpy())
    batch = Batch(torch.from_numpy(wb.signal), store.fs, torch.from_numpy(wb.lead_mask))
    views = [batch.signal] * model.n_views
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = model(batch, views)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return b / statistics.mean(times[5:])


def view_seconds(recipe_path: Path, steps: int) -> float:
    """Median seconds per batch spent making the recipe's augmented views."""
    recipe = load_recipe(recipe_path)
    store = prepare(recipe).store
    built = build_model(recipe, list(store.leads))
    b = recipe.train.batch_size
    wb = store.windows(recipe.preprocess.window_s, None).read(torch.arange(b).numpy())
    batch = Batch(torch.from_numpy(wb.signal), store.fs, torch.from_numpy(wb.lead_mask),
                  torch.from_numpy(wb.rpeaks))  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        make_views(batch, built.augmentations, built.objective.n_views, gen)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "hybrid.toml"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    args = parser.parse_args()
    steps = 12 if args.quick else args.steps
    recipe_path = Path(args.recipe)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {device}")
    print(f"recipe: {recipe_path} ({steps} steps per measurement, first 5 not timed)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SSL_ECG_CACHE", str(Path(tmp) / "cache"))
        tmp_path = Path(tmp)
        no_aug = load_recipe(recipe_path).resolved()
        no_aug["augmentations"] = []
        import tomli_w

        plain = tmp_path / "no_aug.toml"
        plain.write_text(tomli_w.dumps(no_aug))
        core, bare = [], []
        for _ in range(2):  # interleaved, to share whatever the machine is doing
            core.append(core_rate(plain, [], steps, tmp_path))
            bare.append(bare_rate(plain, [], steps))
        c, b = max(core), max(bare)
        print(f"[1] core {c:,.0f} samples/s vs bare loop {b:,.0f} samples/s: "
              f"ratio {c / b:.3f} (target >= 0.95)")  # fmt: skip
        full = core_rate(recipe_path, [], steps, tmp_path)
        bsz = load_recipe(recipe_path).train.batch_size
        views_s = view_seconds(recipe_path, steps)
        step_s = bsz / full
        print(f"[2] views {views_s * 1e3:.1f} ms of a {step_s * 1e3:.1f} ms step with the recipe's "
              f"augmentations: {100 * views_s / step_s:.1f} % (target <= 10 %)")  # fmt: skip
        reg = get_registry()
        base = load_recipe(recipe_path).resolved()
        for enc in reg.names("encoder"):
            for obj in reg.names("objective"):
                doc = json.loads(json.dumps(base))
                if doc["encoder"]["name"] != enc:
                    doc["encoder"] = {"name": enc}
                doc["objective"] = {"name": obj}
                path = tmp_path / f"{enc}-{obj}.toml"
                path.write_text(tomli_w.dumps(doc))
                try:
                    rate = core_rate(path, [], steps, tmp_path)
                    print(f"[3] {enc:>10} x {obj:<8} {rate:8,.0f} samples/s")
                except SslEcgError as exc:
                    print(f"[3] {enc:>10} x {obj:<8} refused: {exc}")


if __name__ == "__main__":
    main()
