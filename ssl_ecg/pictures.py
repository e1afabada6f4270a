"""Pictures to check pretraining by eye: what the augmentations do to real windows
(``ssl-ecg show-views``) and what a reconstructing objective predicts (``show-reconstruction``).
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Batch
from ssl_ecg.recipe import Recipe

N_DEFAULT = 3


def sample_batch(recipe: Recipe, n: int, seed: int) -> tuple[Batch, Any, list[str]]:
    """``n`` training windows of the recipe's data (seeded pick), the built model and leads."""
    from ssl_ecg.build import build_model
    from ssl_ecg.sources import build_sources, prepare_all, recipe_leads
    from ssl_ecg.train import training_windows

    sources = build_sources(recipe)
    leads = recipe_leads(recipe, sources)
    prepared = prepare_all(recipe, sources)
    n_patients = sum(len(set(p.store.patient_ids)) for p in prepared)
    built = build_model(recipe, leads, n_patients)
    windows = training_windows(recipe, prepared, built.objective.n_segments)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(windows), size=min(n, len(windows)), replace=False))
    wb = windows.read(idx)
    batch = Batch(
        torch.from_numpy(wb.signal), prepared[0].store.fs, torch.from_numpy(wb.lead_mask),
        torch.from_numpy(wb.rpeaks), torch.from_numpy(wb.patient),
        None if wb.segments is None else torch.from_numpy(wb.segments),
    )  # fmt: skip
    return batch, built, leads


def _lead(batch: Batch, i: int) -> int:
    """The first present lead of window ``i``."""
    present = np.flatnonzero(batch.lead_mask[i].numpy())
    return int(present[0]) if present.size else 0


def _peaks(ax: Any, t: np.ndarray, y: np.ndarray, rpeaks: torch.Tensor | None, i: int) -> None:
    if rpeaks is None:
        return
    r = rpeaks[i].numpy()
    r = r[(r >= 0) & (r < y.size)]
    ax.plot(t[r], y[r], "v", color="tab:red", markersize=5, label="R-peaks")


def show_views(recipe: Recipe, out: Path, n: int = N_DEFAULT, seed: int = 0) -> Path:
    """A grid: one row per window, the clean window then each augmented view (one lead, R-peaks
    marked, time in seconds). Returns ``out``."""
    from ssl_ecg.views import view_batches

    plt = _pyplot()
    batch, built, leads = sample_batch(recipe, n, seed)
    n_views = max(built.objective.n_views, 2)
    gen = torch.Generator().manual_seed(seed)
    views = view_batches(batch, built.augmentations, n_views, gen)
    applied = []
    for v in range(n_views):
        used = [recipe.augmentations[j].name for j, a in enumerate(built.augmentations)
                if getattr(a.config, "views", None) is None or v in a.config.views]  # fmt: skip
        applied.append(", ".join(used) or "no augmentation")
    b, _, t_len = batch.signal.shape
    t = np.arange(t_len) / batch.fs
    fig, axes = plt.subplots(b, 1 + n_views, figsize=(3.6 * (1 + n_views), 2.2 * b),
                             squeeze=False, sharex=True)  # fmt: skip
    for i in range(b):
        c = _lead(batch, i)
        for col, (title, vb) in enumerate([("clean", batch)] + [
            (f"view {v + 1}: {applied[v]}", views[v]) for v in range(n_views)
        ]):  # fmt: skip
            ax = axes[i, col]
            y = vb.signal[i, c].numpy()
            ax.plot(
                t, y, lw=0.8, color="black" if col == 0 else "tab:blue", label=f"lead {leads[c]}"
            )
            _peaks(ax, t, y, vb.rpeaks, i)
            if i == 0:
                ax.set_title(textwrap.fill(title, 45), fontsize=8)
            if col == 0:
                ax.set_ylabel("amplitude\n(normalised)", fontsize=8)
            if i == b - 1:
                ax.set_xlabel("time (s)", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{recipe.path.name}: {b} training windows and their augmented views", fontsize=10)
    return _save(fig, plt, out)


def load_run_objective(run_dir: Path, recipe_path: Path | None) -> tuple[Recipe, Any, int]:
    """The run's trained objective (its last checkpoint) and the recipe whose data to show."""
    from ssl_ecg.build import build_model
    from ssl_ecg.checkpoint import load_checkpoint, load_state
    from ssl_ecg.data.cache import read_json
    from ssl_ecg.export import checkpoint_recipe
    from ssl_ecg.recipe import load_recipe, recipe_from_dict

    ckpt = run_dir / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        raise SslEcgError(f"{run_dir}: not a run directory (no checkpoints/last.pt); give the "
                          "folder `ssl-ecg train` wrote")  # fmt: skip
    state = load_checkpoint(ckpt)
    trained = checkpoint_recipe(state, ckpt)
    data_file = run_dir / "data.json"
    fix = "the run directory is damaged; train it again"
    data = read_json(data_file, fix, SslEcgError) if data_file.is_file() else {}
    if recipe_path:
        recipe = load_recipe(recipe_path)
    else:  # the trained recipe, its relative data paths read from where it was written
        where = Path(data.get("recipe_file") or run_dir / "recipe.toml")
        recipe = recipe_from_dict(tomllib.loads(state["recipe"]), where)
    n_patients = data.get("n_patients")
    from ssl_ecg.sources import recipe_leads

    built = build_model(trained, recipe_leads(recipe), n_patients)
    load_state(built.objective, state["objective"], ckpt)
    return recipe, built.objective.eval(), int(state["step"])


def show_reconstruction(
    run_dir: Path, out: Path, recipe_path: Path | None = None, n: int = N_DEFAULT, seed: int = 0
) -> Path:
    """Input, hidden spans and the objective's reconstruction of ``n`` windows. Returns ``out``."""
    recipe, objective, step = load_run_objective(run_dir, recipe_path)
    batch, _, leads = sample_batch(recipe, n, seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        rec = objective.reconstruction(batch)
    if rec is None:
        raise SslEcgError(
            f"{run_dir}: objective '{recipe.objective.name}' does not reconstruct its input "
            "(it has no reconstruction()); use show-views, or a run whose objective masks and "
            "predicts the signal"
        )
    plt = _pyplot()
    b, _, t_len = batch.signal.shape
    t = np.arange(t_len) / batch.fs
    fig, axes = plt.subplots(b, 1, figsize=(9, 2.2 * b), squeeze=False, sharex=True)
    for i in range(b):
        ax, c = axes[i, 0], _lead(batch, i)
        mask = rec["mask"][i].numpy()
        mask = mask[c] if mask.ndim == 2 else mask  # (C, T): each lead hides its own patches
        shown = np.where(mask, rec["output"][i, c].numpy(), np.nan)
        ax.plot(
            t, batch.signal[i, c].numpy(), lw=0.8, color="black", label=f"input, lead {leads[c]}"
        )
        ax.plot(t, shown, lw=1.0, color="tab:red", label="reconstruction (hidden spans)")
        ax.fill_between(t, 0, 1, where=mask, color="tab:orange", alpha=0.15,
                        transform=ax.get_xaxis_transform(), label="hidden")  # fmt: skip
        ax.set_ylabel("amplitude\n(normalised)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time (s)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right", ncol=3)
    fig.suptitle(f"{run_dir.name}: {recipe.objective.name} at step {step}", fontsize=10)
    return _save(fig, plt, out)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, plt: Any, out: Path) -> Path:
    out = Path(out)
    if out.parent and not out.parent.is_dir():
        raise SslEcgError(f"-o {out}: folder {out.parent} does not exist; create it first")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
