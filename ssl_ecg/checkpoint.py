"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only, and
checked against the schema the training core writes before anything uses them.

Every problem with a file read back (not a torch file, pickled code, a missing key, a value of
the wrong type, weights that do not fit the model) is one :class:`SslEcgError` line naming the
file and what is wrong.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ssl_ecg.errors import SslEcgError, one_line

FORMAT = 1
FIX = "use a checkpoint written by ssl-ecg train (checkpoints/last.pt or step_NNNNNNN.pt)"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` via a synced temporary file and an atomic rename, so a kill
    during the write never destroys the last good checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as f:
        torch.save({"format": FORMAT, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------------ schema
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor_dict(v: Any) -> bool:
    return isinstance(v, Mapping) and all(
        isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()
    )


def _tensors(v: Any) -> bool:
    return (
        isinstance(v, list | tuple) and len(v) > 0 and all(isinstance(t, torch.Tensor) for t in v)
    )


def _optimizer(v: Any) -> bool:
    return (
        isinstance(v, Mapping)
        and isinstance(v.get("state"), Mapping)
        and isinstance(v.get("param_groups"), list)
    )


def _rng(v: Any) -> bool:
    """Byte states of torch generators; CPU ones (torch, data) of the size torch uses."""
    cpu = torch.get_rng_state().numel()

    def states(x: Any, size: int | None) -> bool:
        return _tensors(x) and all(
            t.dtype == torch.uint8 and t.ndim == 1 and (size is None or t.numel() == size)
            for t in x
        )

    return (
        isinstance(v, Mapping) and states(v.get("torch"), cpu) and states(v.get("augment"), None)
        and states([v.get("data")], cpu)
        and ("cuda" not in v or isinstance(v["cuda"], list | tuple))
    )  # fmt: skip


def _order(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.ndim == 1 and not v.is_floating_point()


# key -> (check, what the training core writes there)
SCHEMA: dict[str, tuple[Callable[[Any], bool], str]] = {
    "step": (lambda v: _is_int(v) and v >= 0, "a step number >= 0"),
    "recipe": (lambda v: isinstance(v, str) and bool(v.strip()), "the recipe as TOML text"),
    "objective": (
        lambda v: _tensor_dict(v) and len(v) > 0,
        "the model's state_dict (names -> tensors)",
    ),
    "optimizer": (_optimizer, "an optimizer state_dict (state, param_groups)"),
    "scheduler": (lambda v: isinstance(v, Mapping), "a scheduler state_dict"),
    "rng": (_rng, "random states (torch, data, augment)"),
    "order": (_order, "a 1-D integer tensor of window indices"),
    "pos": (lambda v: _is_int(v) and v >= 0, "a position >= 0"),
    "world": (lambda v: _is_int(v) and v >= 1, "a process count >= 1"),
}


def _kind(v: Any) -> str:
    """A short description of a value found in a checkpoint, for messages."""
    if isinstance(v, torch.Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    if isinstance(v, int | float | str | bool) or v is None:
        return f"{type(v).__name__} {v!r}"[:60]
    return f"a {type(v).__name__}"


def check_checkpoint(state: Any, path: Path) -> dict[str, Any]:
    """``state`` if it has every key the training core needs, with the right types; else a
    one-line :class:`SslEcgError` naming ``path`` and the first problem."""
    if not isinstance(state, dict):
        raise SslEcgError(
            f"{path}: not an ssl-ecg checkpoint (it holds a {type(state).__name__}, not a dict "
            f"of training state); {FIX}"
        )
    if state.get("format") != FORMAT:
        found = f"'format' is {_kind(state['format'])}" if "format" in state else "no 'format'"
        raise SslEcgError(f"{path}: not an ssl-ecg checkpoint of format {FORMAT} ({found}); {FIX}")
    missing = [k for k in SCHEMA if k not in state]
    if missing:
        raise SslEcgError(
            f"{path}: damaged or incomplete checkpoint: missing key(s) {', '.join(missing)}; {FIX}"
        )
    for key, (ok, what) in SCHEMA.items():
        if not ok(state[key]):
            raise SslEcgError(
                f"{path}: damaged checkpoint: '{key}' is {_kind(state[key])}, expected {what}; "
                f"{FIX}"
            )
    if state["pos"] > state["order"].numel():
        raise SslEcgError(
            f"{path}: damaged checkpoint: 'pos' {state['pos']} is past the end of 'order' "
            f"({state['order'].numel()} windows); {FIX}"
        )
    if len(state["rng"]["augment"]) != state["world"]:
        raise SslEcgError(
            f"{path}: damaged checkpoint: 'world' is {state['world']} but 'rng' holds "
            f"{len(state['rng']['augment'])} process states; {FIX}"
        )
    return state


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of tensors and plain data and check its schema (:data:`SCHEMA`);
    anything that needs pickled code is refused."""
    if not path.is_file():
        raise SslEcgError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        code = [line for line in lines if "GLOBAL" in line]
        if code:  # the file asks to import and call something: never load it
            raise SslEcgError(
                f"{path}: refused, the checkpoint needs pickled code to load ({code[0][:120]}); "
                "ssl-ecg only loads tensors and plain data (torch.load weights_only=True)"
            ) from None
        raise SslEcgError(
            f"{path}: not a readable checkpoint (corrupt or not a torch file); {FIX}"
        ) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise SslEcgError(f"{path}: cannot read the checkpoint ({why})") from None
    except MemoryError:
        raise
    except Exception:  # a text or cut-short file fails anywhere in torch's unpickler
        raise SslEcgError(
            f"{path}: not a readable checkpoint (not a torch file, or cut short); {FIX}"
        ) from None
    return check_checkpoint(state, path)


# ------------------------------------------------------------------ weights into a model
def _shape(t: Any) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")" if hasattr(t, "shape") else "?"


def state_mismatch(module: torch.nn.Module, state: Mapping[str, Any]) -> str | None:
    """Why ``state`` does not fit ``module`` exactly (first key with both shapes, first missing
    or unexpected key), or None when it fits."""
    own = module.state_dict()
    for key, value in state.items():
        if key in own and tuple(getattr(value, "shape", ())) != tuple(own[key].shape):
            mine = _shape(own[key])
            return f"'{key}' has shape {_shape(value)} in the file but {mine} in the model"
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    parts = []
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        parts.append(f"the model's '{missing[0]}'{more} is missing from the file")
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        parts.append(f"the file's '{unexpected[0]}'{more} is not in the model")
    return "; ".join(parts) or None


def load_state(module: Any, state: Mapping[str, Any], path: Path, hint: str = "") -> None:
    """``module.load_state_dict(state)`` (strict), with torch's size-mismatch and missing-key
    RuntimeError turned into one line naming ``path`` and the first key that does not fit.

    ``module`` is a ``torch.nn.Module``, or anything else with ``state_dict`` and
    ``load_state_dict`` (an optimizer, a scheduler: their ValueError is turned likewise);
    ``hint`` replaces the default advice at the end of the message."""
    why = state_mismatch(module, state) if isinstance(module, torch.nn.Module) else None
    if why is None:
        try:
            module.load_state_dict(state)
            return
        except (RuntimeError, ValueError, TypeError) as exc:
            why = one_line(exc)
    fix = hint or "the weights were saved from a differently configured model"
    raise SslEcgError(f"{path}: weights do not fit the model: {why}; {fix}")
