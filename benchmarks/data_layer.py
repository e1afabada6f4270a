"""Data-layer figures: MIT-BIH prepare time, random-access read rate, memory as data grows.

    python benchmarks/data_layer.py [--data ../shared/data] [--small 40] [--grow 10]

1. Prepare all 48 MIT-BIH records (resample 360 -> 250 Hz, band-pass, R-peaks, cache) with one
   worker per core. Target: <= 60 s on 2 cores.
2. Random-access reads of cached 2.5 s windows in batches of 256. Target: >= 20,000 windows/s.
3. Peak memory of prepare and of reading for the synthetic dataset at N and grow*N records.
   Target: flat (within 20 %). Each measurement runs in a fresh process; "anon" is the
   process's own memory (RssAnon), "rss" includes memory-mapped file pages (VmHWM).
Every figure is measured in this run; nothing is assumed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MiB
    return float("nan")


def _recipe(folder: Path, data: str) -> Path:
    path = folder / "recipe.toml"
    path.write_text(
        f"[data]\n{data}\nfs = 250\nwindow_s = 2.5\n"
        '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'
    )
    return path


def measure(kind: str, recipe: str, workers: int, batches: int) -> dict[str, float]:
    """Run inside a fresh process: prepare or read, return time and memory."""
    import numpy as np

    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.sources import prepare

    r = load_recipe(recipe)
    t0 = time.perf_counter()
    prepared = prepare(r, workers=workers)
    seconds = time.perf_counter() - t0
    out = {
        "prepare_s": seconds,
        "built": prepared.built,
        "records": prepared.store.meta["n_records"],
    }
    if kind == "read":
        windows = prepared.store.windows(2.5, None)
        rng = np.random.default_rng(0)
        windows.read(rng.integers(0, len(windows), 256))  # warm-up
        anon = _status("RssAnon")
        t0 = time.perf_counter()
        for _ in range(batches):
            windows.read(rng.integers(0, len(windows), 256))
            anon = max(anon, _status("RssAnon"))
        seconds = time.perf_counter() - t0
        out.update(windows_per_s=batches * 256 / seconds, windows=len(windows), anon_mb=anon)
    out["rss_mb"] = _status("VmHWM")
    out["children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if kind == "prepare":
        out["anon_mb"] = _status("RssAnon")
    return out


def run(kind: str, recipe: Path, cache: Path, workers: int = 0, batches: int = 200) -> dict:
    env = {**os.environ, "SSL_ECG_CACHE": str(cache)}
    cmd = [sys.executable, __file__, "--measure", kind, str(recipe), str(workers), str(batches)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        kind, recipe, workers, batches = sys.argv[2:6]
        print(json.dumps(measure(kind, recipe, int(workers), int(batches))))
        return
    parser = argparse.ArgumentParser()
    default = os.environ.get("SSL_ECG_TEST_DATA", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data", default=default)
    parser.add_argument("--small", type=int, default=40, help="synthetic records at 1x")
    parser.add_argument("--grow", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mitdb = Path(args.data) / "mitbih-arrhythmia"
        if mitdb.is_dir():
            rec = _recipe(tmp, f'name = "mitbih"\nroot = "{mitdb}"\nexclude_paced = false')
            p = run("prepare", rec, tmp / "c-mit")
            print(
                f"[1] MIT-BIH prepare, {p['records']} records: {p['prepare_s']:.1f} s "
                f"(target <= 60 s)"
            )
            r = run("read", rec, tmp / "c-mit", batches=400)
            print(
                f"[2] random 2.5 s windows, batches of 256: {r['windows_per_s']:,.0f} windows/s "
                f"over {r['windows']:,} windows (target >= 20,000)"
            )
        else:
            print(f"[1,2] skipped: {mitdb} not found (set --data or SSL_ECG_TEST_DATA)")
        rows = []
        for n in (args.small, args.small * args.grow):
            rec = _recipe(tmp, f'name = "synthetic"\nn_records = {n}\nduration_s = 60.0')
            p = run("prepare", rec, tmp / f"c-syn-{n}")
            r = run("read", rec, tmp / f"c-syn-{n}")
            rows.append((n, p, r))
            print(
                f"[3] synthetic x{n:>5}: prepare {p['prepare_s']:6.1f} s, main anon "
                f"{p['anon_mb']:6.0f} MiB, main peak rss {p['rss_mb']:6.0f} MiB, worker peak "
                f"{p['children_rss_mb']:6.0f} MiB | read anon {r['anon_mb']:6.0f} MiB, "
                f"peak rss {r['rss_mb']:6.0f} MiB, {r['windows_per_s']:,.0f} windows/s"
            )
        (_, p1, r1), (_, p2, r2) = rows
        ratio = p2["rss_mb"] / p1["rss_mb"]
        print(
            f"[3] growth x{args.grow}: prepare main peak rss ratio {ratio:.2f}, "
            f"worker peak ratio {p2['children_rss_mb'] / p1['children_rss_mb']:.2f}, "
            f"read anon ratio {r2['anon_mb'] / r1['anon_mb']:.2f}, "
            f"read peak rss ratio {r2['rss_mb'] / r1['rss_mb']:.2f} (target <= 1.20)"
        )


if __name__ == "__main__":
    main()
