"""Small facts worth keeping between commands, keyed by the identity of what they came from.

A dataset plugin that must scan a whole corpus to learn something small (the lead names in
20,000 headers) keeps the answer here, under ``<cache root>/memo/``, keyed by the corpus's
content identity (:meth:`~ssl_ecg.data.record.RecordSource.identity`): the next command on the
same files reads it back instead of scanning again; a changed file changes the identity, so a
stale answer is never read. Best effort: a memo that cannot be written or read is recomputed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ssl_ecg.data.cache import default_cache_root


def memo_path(kind: str, identity: str) -> Path:
    """Where the memo ``kind`` of the data with ``identity`` lives."""
    return default_cache_root() / "memo" / f"{kind}-{identity[:40]}.json"


def recall(kind: str, identity: str) -> Any | None:
    """The value remembered for (``kind``, ``identity``), or None."""
    try:
        stored = json.loads(memo_path(kind, identity).read_text())
    except (OSError, ValueError):
        return None
    return stored.get("value") if stored.get("identity") == identity else None


def remember(kind: str, identity: str, value: Any) -> None:
    """Keep ``value`` (JSON) for (``kind``, ``identity``); written atomically, never fails."""
    path = memo_path(kind, identity)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"identity": identity, "value": value}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
