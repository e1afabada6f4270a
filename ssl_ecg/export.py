"""Exported encoders: ``encoder.safetensors`` + ``encoder.json`` (its config, the data contract
it was trained under, and the records/patients it was pretrained on).

An export only loads against data that matches its contract (sampling rate, leads, window):
anything else is an error that says what differs. What is read back is checked first:
``encoder.json`` against :class:`ExportMeta`, the weights against the encoder its settings
build (:func:`ssl_ecg.checkpoint.load_state`); every problem is one line naming the file.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from safetensors.torch import save as to_bytes

from ssl_ecg.build import build_model
from ssl_ecg.checkpoint import FIX as CHECKPOINT_FIX
from ssl_ecg.checkpoint import load_checkpoint, load_state
from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.cache import FileSchema, check_schema, read_json, schema_problem
from ssl_ecg.errors import PluginError, SslEcgError
from ssl_ecg.interfaces import Encoder, EncoderContext
from ssl_ecg.outputs import atomic_write
from ssl_ecg.recipe import _validate, recipe_from_dict
from ssl_ecg.registry import get_registry
from ssl_ecg.version import __version__

FORMAT = 1


# ------------------------------------------------------------------ schemas of what is read
class Contract(FileSchema):
    """The data contract (``data`` of encoder.json, ``contract`` of a run's data.json)."""

    fs: float = Field(gt=0)
    leads: list[str] = Field(min_length=1)
    window_s: float = Field(gt=0)
    n_samples: int = Field(gt=0)
    preprocessing: dict[str, Any]
    dataset: str
    datasets: list[str] = Field(default_factory=list)


class PretrainingSource(FileSchema):
    dataset: str
    records: list[str] = Field(default_factory=list)
    patients: list[str] = Field(default_factory=list)


class Pretraining(FileSchema):
    step: int = Field(ge=0)
    records: list[str]
    patients: list[str]
    sources: list[PretrainingSource] = Field(default_factory=list)


class EncoderSettings(FileSchema):
    name: str = Field(min_length=1)


class ExportMeta(FileSchema):
    """``encoder.json``: the keys loading and evaluation read (other keys are kept)."""

    format: int
    encoder: EncoderSettings
    data: Contract
    pretraining: Pretraining
    embed_dim: int = Field(gt=0)
    token_stride: int | None = None


class RunData(FileSchema):
    """A run's ``data.json`` (written by ``ssl-ecg train``)."""

    contract: Contract
    records: list[str]
    patients: list[str]
    sources: list[PretrainingSource] = Field(default_factory=list)
    n_patients: int | None = Field(None, ge=0)


def check_contract_file(contract: Contract, file: Path, key: str, fix: str) -> None:
    """The contract's own preprocessing must agree with its fs, leads and window."""
    where = f"{file}: {key}"
    try:
        pre = PreprocessConfig.model_validate(
            {k: v for k, v in contract.preprocessing.items() if k != "leads"}
        )
    except ValidationError as exc:
        raise SslEcgError(f"{where}.preprocessing: {schema_problem(exc)}; {fix}") from None
    if abs(pre.fs - contract.fs) > 1e-9:
        raise SslEcgError(
            f"{where}: fs {contract.fs:g} differs from preprocessing.fs {pre.fs:g}; {fix}"
        )
    if contract.n_samples != round(contract.window_s * contract.fs):
        raise SslEcgError(
            f"{where}: n_samples {contract.n_samples} is not window_s {contract.window_s:g} s "
            f"x fs {contract.fs:g} Hz; {fix}"
        )


# ------------------------------------------------------------------ writing
def checkpoint_recipe(state: dict[str, Any], ckpt: Path) -> Any:
    """The recipe a checkpoint was trained with (stored in it), validated."""
    try:
        doc = tomllib.loads(state["recipe"])
    except tomllib.TOMLDecodeError as exc:
        raise SslEcgError(
            f"{ckpt}: damaged checkpoint: its 'recipe' is not valid TOML ({exc}); {CHECKPOINT_FIX}"
        ) from None
    return recipe_from_dict(doc, ckpt)


def export(run_dir: Path, out_dir: Path, checkpoint: Path | None = None) -> Path:
    """Write the run's encoder (its last checkpoint, or ``checkpoint``, e.g. one of
    ``checkpoints/step_NNNNNNN.pt``) to ``out_dir``; returns the JSON path.

    The model is built from the recipe stored in the checkpoint (the one its weights were
    trained with), so an edited ``recipe.toml`` cannot change what is exported."""
    for needed in ("recipe.toml", "data.json", "checkpoints/last.pt"):
        if not (run_dir / needed).is_file():
            raise SslEcgError(f"{run_dir}: not a run directory (no {needed})")
    data_file = run_dir / "data.json"
    fix = "the run directory is damaged; train it again"
    data = read_json(data_file, fix, SslEcgError)
    run_data = check_schema(RunData, data, data_file, fix, SslEcgError)
    check_contract_file(run_data.contract, data_file, "contract", fix)
    ckpt = checkpoint or run_dir / "checkpoints" / "last.pt"
    state = load_checkpoint(ckpt)
    recipe = checkpoint_recipe(state, ckpt)
    pre, contract = recipe.preprocess, run_data.contract
    if abs(pre.fs - contract.fs) > 1e-9 or round(pre.window_s * pre.fs) != contract.n_samples:
        raise SslEcgError(
            f"{data_file}: contract of {contract.n_samples}-sample windows at {contract.fs:g} Hz, "
            f"but {ckpt.name} was trained on {round(pre.window_s * pre.fs)} samples at "
            f"{pre.fs:g} Hz; {fix}"
        )
    leads = data["contract"]["leads"]
    built = build_model(recipe, leads, data.get("n_patients"))
    load_state(
        built.objective, state["objective"], ckpt,
        hint=f"the model its recipe builds for the {len(leads)} lead(s) of {data_file} differs "
        "(another version of a plugin, or an edited data.json)",
    )  # fmt: skip
    encoder = built.encoder
    weights = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "encoder.safetensors", to_bytes(weights))  # mode 0644, not 0600
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
    atomic_write(out_dir / "encoder.json", json.dumps(meta, indent=1))
    return out_dir / "encoder.json"


# ------------------------------------------------------------------ reading
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


def _refix(meta: dict[str, Any], folder: Path) -> str:
    """How to remake a damaged export: from its run when encoder.json names one."""
    run = (meta.get("pretraining") or {}).get("run") if isinstance(meta, dict) else None
    run = run if isinstance(run, str) and run else "RUN_DIR"
    return f"export it again: ssl-ecg export {run} -o {folder}"


def read_export_meta(folder: Path) -> dict[str, Any]:
    """``encoder.json`` of an export folder, checked against :class:`ExportMeta`."""
    meta_path = folder / "encoder.json"
    if not meta_path.is_file():
        raise SslEcgError(f"{folder}: not an export (no encoder.json)")
    meta = read_json(meta_path, _refix({}, folder), SslEcgError)
    fix = _refix(meta, folder)
    if not isinstance(meta, dict):
        raise SslEcgError(f"{meta_path}: holds a JSON {type(meta).__name__}, not an object; {fix}")
    if "format" in meta and meta["format"] != FORMAT:
        raise SslEcgError(
            f"{meta_path}: unknown export format {repr(meta['format'])[:40]} (this ssl-ecg reads "
            f"format {FORMAT}); {fix}"
        )
    check_schema(ExportMeta, meta, meta_path, fix, SslEcgError)
    check_contract_file(ExportMeta.model_validate(meta).data, meta_path, "data", fix)
    return meta


def read_weights(file: Path, fix: str) -> dict[str, Any]:
    """The tensors of a safetensors file; missing, empty or garbage is one line naming it."""
    from safetensors.torch import load_file

    if not file.is_file():
        raise SslEcgError(f"{file}: not found; {fix}")
    try:
        return load_file(str(file))
    except Exception as exc:  # SafetensorError (header too small/large...), OSError
        text = str(exc).strip().splitlines()
        why = f"{type(exc).__name__}: {text[0][:160] if text else ''}"
        raise SslEcgError(f"{file}: not a readable safetensors file ({why}); {fix}") from None


def load_encoder(
    folder: Path, fs: float | None = None, leads: list[str] | None = None,
    n_samples: int | None = None,
) -> tuple[Encoder, dict[str, Any]]:  # fmt: skip
    """Build an exported encoder with its weights; check the data contract when data is given."""
    meta = read_export_meta(folder)
    meta_path = folder / "encoder.json"
    fix = _refix(meta, folder)
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
    context = EncoderContext(len(c["leads"]), int(c["n_samples"]), float(c["fs"]))
    try:
        encoder = spec.factory(config, context)
    except SslEcgError as exc:
        raise SslEcgError(f"{meta_path}: encoder: {exc}") from None
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise SslEcgError(
            f"{meta_path}: encoder '{spec.name}' cannot be built from these settings ({exc})"
        ) from None
    weights_file = folder / "encoder.safetensors"
    load_state(
        encoder, read_weights(weights_file, fix), weights_file,
        hint=f"they were not saved from the encoder {meta_path.name} describes "
        f"(was it edited?); {fix}",
    )  # fmt: skip
    if encoder.embed_dim != meta["embed_dim"]:
        raise SslEcgError(
            f"{meta_path}: embed_dim {meta['embed_dim']} but the encoder it describes embeds "
            f"into {encoder.embed_dim} dimensions; {fix}"
        )
    return encoder.eval(), meta
