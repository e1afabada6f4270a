"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ssl_ecg.errors import SslEcgError

FORMAT = 1


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


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of tensors and plain data; anything that needs pickled code is refused."""
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
            f"{path}: not a readable checkpoint (corrupt or not a torch file)"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        msg = f"{type(exc).__name__}: {exc}"
        raise SslEcgError(f"{path}: not a readable checkpoint ({msg})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SslEcgError(f"{path}: not an ssl-ecg checkpoint (format {FORMAT} expected)")
    return state
