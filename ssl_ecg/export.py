"""Exported encoders: ``encoder.safetensors`` + ``encoder.json`` (its config, the data contract
it was trained under, and the records/patients it was pretrained on).

An export only loads against data that matches its contract (sampling rate, leads, window):
anything else is an error that says what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ssl_ecg import __version__
from ssl_ecg.build import build_model
from ssl_ecg.checkpoint import load_checkpoint
from ssl_ecg.errors import PluginError, SslEcgError
from ssl_ecg.interfaces import Encoder, EncoderContext
from ssl_ecg.recipe import _validate, load_recipe
from ssl_ecg.registry import get_registry

FORMAT = 1


def export(run_dir: Path, out_dir: Path, checkpoint: Path | None = None) -> Path:
    """Write the run's encoder (its last checkpoint, or ``checkpoint``, e.g. one of
    ``checkpoints/step_NNNNNNN.pt``) to ``out_dir``; returns the JSON path."""
    from safetensors.torch import save_file

    for needed in ("recipe.toml", "data.json", "checkpoints/last.pt"):
        if not (run_dir / needed).is_file():
            raise SslEcgError(f"{run_dir}: not a run directory (no {needed})")
    recipe = load_recipe(run_dir / "recipe.toml")
    data = json.loads((run_dir / "data.json").read_text())
    state = load_checkpoint(checkpoint or run_dir / "checkpoints" / "last.pt")
    built = build_model(recipe, data["contract"]["leads"], data.get("n_patients"))
    built.objective.load_state_dict(state["objective"])
    encoder = built.encoder
    weights = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out_dir / "encoder.safetensors"))
    spec = recipe.encoder.spec
    meta = {
        "format": FORMAT,
        "encoder": recipe.encoder.resolved(),
        "plugin": {"distribution": spec.distribution, "version": spec.version},
        "embed_dim": encoder.embed_dim,
        "token_stride": encoder.token_stride,
        "data": data["contract"],
        "pretraining": {
            "objective": recipe.objective.resolved(),
            "records": data["records"],
            "patients": data["patients"],
            "sources": data.get("sources", []),
            "step": int(state["step"]),
            "run": str(run_dir.resolve()),
        },
        "ssl_ecg_version": __version__,
    }
    path = out_dir / "encoder.json"
    path.write_text(json.dumps(meta, indent=1))
    return path


def check_contract(meta: dict[str, Any], fs: float, leads: list[str], n_samples: int) -> None:
    """Refuse data that differs from what the encoder was trained on."""
    want = meta["data"]
    problems = []
    if abs(float(want["fs"]) - fs) > 1e-6:
        problems.append(f"fs {want['fs']:g} Hz, not {fs:g} Hz")
    if [x.upper() for x in want["leads"]] != [x.upper() for x in leads]:
        problems.append(f"leads {want['leads']}, not {leads}")
    if int(want["n_samples"]) != n_samples:
        problems.append(f"{want['n_samples']}-sample windows, not {n_samples}")
    if problems:
        raise SslEcgError(
            "the encoder was trained on "
            + "; ".join(problems)
            + ": set data.fs, data.leads and data.window_s to match it"
        )


def load_encoder(
    folder: Path, fs: float | None = None, leads: list[str] | None = None,
    n_samples: int | None = None,
) -> tuple[Encoder, dict[str, Any]]:  # fmt: skip
    """Build an exported encoder with its weights; check the data contract when data is given."""
    from safetensors.torch import load_file

    meta_path = folder / "encoder.json"
    if not meta_path.is_file():
        raise SslEcgError(f"{folder}: not an export (no encoder.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise SslEcgError(f"{meta_path}: unknown export format {meta.get('format')}")
    c = meta["data"]
    try:
        check_contract(meta, fs or c["fs"], leads or c["leads"], n_samples or c["n_samples"])
    except SslEcgError as exc:
        raise SslEcgError(f"{folder}: {exc}") from None
    settings = {k: v for k, v in meta["encoder"].items() if k != "name"}
    try:
        spec = get_registry().get("encoder", meta["encoder"]["name"])
    except PluginError as exc:
        raise SslEcgError(f"{meta_path}: {exc}") from None
    config = _validate(spec.config, settings, f"{meta_path}: encoder")
    encoder = spec.factory(config, EncoderContext(len(c["leads"]), int(c["n_samples"]), c["fs"]))
    missing, unexpected = encoder.load_state_dict(load_file(str(folder / "encoder.safetensors")),
                                                  strict=False)  # fmt: skip
    if missing or unexpected:
        raise SslEcgError(
            f"{folder}: weights do not fit encoder '{spec.name}' "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return encoder.eval(), meta
