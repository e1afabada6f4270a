"""Corpora of real size: prepare rate, memory, cache size, train start-up and the data share of a
training step, at 2,000 and 20,000 twelve-lead records (100,000 with ``--sizes`` and the disk).

The corpus is made here from real ECGs: 10 s windows of the 48 MIT-BIH Arrhythmia records (two
leads at 360 Hz, resampled to 500 Hz) mixed into 12 leads with random per-record gains, noise
and baseline wander, written in the formats users have:

* ``wfdb/``: a MIMIC-IV-ECG-like tree ``files/p1000/p10000000/s50000000/50000000.{hea,dat}``
  (16-bit) with a ``record_list.csv`` (subject_id, study_id, file_name, path), read by the
  ``wfdb`` dataset plugin (which finds the record list and takes patients from ``subject_id``);
* ``npy/``: one ``signals.npy`` (N, 12, 5000) float32 with its JSON sidecar (``numpy`` plugin).

For each size it measures, each in a fresh process:

1. ``ssl-ecg data prepare`` of the WFDB tree with 1 and 2 workers and of the .npy with 2:
   records/s, peak RSS of any one process (the main one or a worker), cache size on disk;
2. a prepare killed (SIGKILL) part-way, then run again: how many records the second run had
   left (it continues; it does not start over) and the cache it ends with;
3. ``ssl-ecg train`` on the prepared WFDB corpus (the main job's hybrid ViT, 12 leads): the time
   from the command to its first logged step (start-up), the time of ``import ssl_ecg.train``
   alone, and the share of a step spent reading the batch from the cache (the median read of a
   random batch over the median step, both in this run).

Targets: peak RSS flat in N (20,000 within 1.2x of 2,000), prepare >= 50 records/s on 2 cores,
start-up <= 10 s at 20,000 records, data <= 5 % of a step. Resumable (the corpora are kept and
reused; ``results.json`` is rewritten after every measurement). CI never runs this.

    nohup python benchmarks/scale.py --out /tmp/ssl-ecg-scale > scale.log 2>&1 &
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SSL_ECG_TEST_DATA", REPO.parent / "shared" / "data"))
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
FS, SECONDS = 500, 10
RECORDS_PER_PATIENT = 3
TRAIN_SETS = ["train.steps=30", "train.log_every=1", "train.checkpoint_every=1000"]


# ------------------------------------------------------------------ the corpus
def mitbih_sources() -> list[np.ndarray]:
    """The two leads of every MIT-BIH record, resampled to 500 Hz: (2, S) float32 in mV."""
    import wfdb
    from scipy.signal import resample_poly

    root = DATA / "mitbih-arrhythmia"
    names = sorted(p.stem for p in root.glob("*.hea"))
    if not names:
        sys.exit(f"no MIT-BIH records in {root} (set SSL_ECG_TEST_DATA)")
    out = []
    for name in names:
        rec = wfdb.rdrecord(str(root / name))
        x = resample_poly(rec.p_signal.T, 25, 18, axis=1)  # 360 -> 500 Hz
        out.append(np.nan_to_num(x).astype(np.float32))
    return out


def make_record(sources: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One 12-lead 10 s record (12, 5000): two real leads mixed with random gains, plus noise
    and baseline wander."""
    src = sources[rng.integers(len(sources))]
    n = FS * SECONDS
    start = rng.integers(0, src.shape[1] - n)
    x = src[:, start : start + n]  # (2, n)
    gains = rng.normal(0.0, 0.6, size=(12, 2)) + np.eye(12, 2)  # (12, 2)
    t = np.arange(n) / FS
    wander = 0.1 * np.sin(
        2 * np.pi * rng.uniform(0.1, 0.5, (12, 1)) * t + rng.uniform(0, 6, (12, 1))
    )
    return (gains @ x + wander + rng.normal(0, 0.02, (12, n))).astype(np.float32)


def _write_part(args: tuple[Path, int, int]) -> None:
    """Worker: records [lo, hi) of a corpus, WFDB files and their rows of signals.npy."""
    import wfdb

    folder, lo, hi = args
    sources = mitbih_sources()
    array = np.load(folder / "npy" / "signals.npy", mmap_mode="r+")
    for i in range(lo, hi):
        x = make_record(sources, np.random.default_rng(i))  # (12, 5000)
        array[i] = x
        sid, study = 10_000_000 + i // RECORDS_PER_PATIENT, 50_000_000 + i
        where = folder / "wfdb" / _record_path(sid, study)
        where.parent.mkdir(parents=True, exist_ok=True)
        wfdb.wrsamp(
            where.name, fs=FS, units=["mV"] * 12, sig_name=LEADS, p_signal=x.T.astype(np.float64),
            fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
            write_dir=str(where.parent),
        )  # fmt: skip
    array.flush()


def _record_path(sid: int, study: int) -> str:
    return f"files/p{str(sid)[:4]}/p{sid}/s{study}/{study}"


def make_corpus(folder: Path, n: int, workers: int) -> None:
    """The WFDB tree + record_list.csv and the .npy + sidecar of ``n`` records (kept)."""
    if (folder / "done").is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "npy").mkdir(parents=True)
    (folder / "wfdb").mkdir()
    np.lib.format.open_memmap(
        folder / "npy" / "signals.npy", "w+", np.float32, (n, 12, FS * SECONDS)
    )
    t0 = time.perf_counter()
    bounds = np.linspace(0, n, workers * 8 + 1).astype(int)
    parts = [(folder, int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_write_part, parts)
    rows = ["subject_id,study_id,file_name,path"]
    patients = []
    for i in range(n):
        sid, study = 10_000_000 + i // RECORDS_PER_PATIENT, 50_000_000 + i
        rows.append(f"{sid},{study},{study},{_record_path(sid, study)}")
        patients.append(str(sid))
    (folder / "wfdb" / "record_list.csv").write_text("\n".join(rows) + "\n")
    sidecar = {"fs": FS, "leads": LEADS, "patient_ids": patients}
    (folder / "npy" / "signals.json").write_text(json.dumps(sidecar))
    (folder / "done").write_text(f"{time.perf_counter() - t0:.1f}")


def recipe(folder: Path, kind: str) -> Path:
    """The main job's recipe (hybrid ViT) on one format of the corpus, 12 leads."""
    data = (
        f'name = "wfdb"\nroot = "{folder / "wfdb"}"\n'
        if kind == "wfdb"
        else f'name = "numpy"\npath = "{folder / "npy" / "signals.npy"}"\n'
    )
    main = (REPO / "recipes" / "hybrid.toml").read_text()
    rest = main[main.index("[encoder]") :]
    path = folder / f"recipe-{kind}.toml"
    path.write_text(f"[data]\n{data}fs = 250\nwindow_s = 2.0\nstride_s = 1.0\n\n{rest}")
    return path


# ------------------------------------------------------------------ measurements
def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd`` in a fresh child of a fresh process: wall seconds, peak RSS of any process."""
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *cmd], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["rc"]:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return out


def measure_prepare(rec: Path, cache: Path, n: int, workers: int) -> dict[str, Any]:
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "SSL_ECG_CACHE": str(cache)}
    out = timed(["ssl-ecg", "data", "prepare", str(rec), "--workers", str(workers)], env)
    out.update(records_per_s=n / out["wall_s"], cache_mb=du(cache) / 2**20, workers=workers)
    return out


def measure_resume(rec: Path, cache: Path, n: int, kill_after_s: float) -> dict[str, Any]:
    """Kill a prepare part-way (SIGKILL), run it again: what the second run had left."""
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "SSL_ECG_CACHE": str(cache)}
    cmd = ["ssl-ecg", "data", "prepare", str(rec), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    time.sleep(kill_after_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    journals = list(cache.rglob("journal.jsonl"))
    done_before = len(journals[0].read_text().splitlines()) if journals else 0
    again = timed(cmd, env)
    metas = list(cache.rglob("meta.json"))
    final = json.loads(metas[0].read_text())["n_records"] if metas else 0
    return {"killed_after_s": kill_after_s, "records_done_before_kill": done_before,
            "records_left_for_the_rerun": n - done_before, "rerun_s": again["wall_s"],
            "records_in_cache": final}  # fmt: skip


def measure_train(rec: Path, cache: Path, run: Path) -> dict[str, Any]:
    """Start-up (command to first logged step), import time, step time and data share."""
    env = {**os.environ, "SSL_ECG_CACHE": str(cache)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ssl_ecg.train"], env=env, check=True)
    imports = time.perf_counter() - t
    shutil.rmtree(run, ignore_errors=True)
    cmd = ["ssl-ecg", "train", str(rec), "--run-dir", str(run)]
    for s in TRAIN_SETS:
        cmd += ["--set", s]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    startup = None
    for line in proc.stderr:  # type: ignore[union-attr]
        if startup is None and line.startswith("step 1/"):
            startup = time.perf_counter() - t
    if proc.wait():
        sys.exit(f"failed: {' '.join(cmd)}")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][5:]
    batch = 64
    step_s = statistics.median(batch / r["samples_per_s"] for r in rows)
    probe = subprocess.run([sys.executable, __file__, "--read-probe", str(rec)], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    read_s = json.loads(probe.stdout.strip().splitlines()[-1])["read_s"]
    return {"import_s": imports, "startup_s": startup, "step_s": step_s, "read_s": read_s,
            "data_share": read_s / step_s}  # fmt: skip


def read_probe(rec: str) -> None:
    """Median time to read a random batch of 64 windows from the prepared cache (a fresh
    process, as the training loop reads them: random windows of the whole corpus)."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.sources import open_prepared

    r = load_recipe(Path(rec))
    windows = open_prepared(r).windows(r.preprocess.window_s, r.preprocess.stride_s)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(60):
        idx = rng.integers(0, len(windows), 64)
        t = time.perf_counter()
        windows.read(idx)
        times.append(time.perf_counter() - t)
    print(json.dumps({"read_s": statistics.median(times[10:]), "windows": len(windows)}))


# ------------------------------------------------------------------ the table
def table(results: dict[str, Any]) -> str:
    lines = ["| records | format | workers | records/s | peak RSS MB | cache MB | wall s |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, r in results["sizes"].items():
        for p in r.get("prepare", []):
            lines.append(f"| {int(n):,} | {p['format']} | {p['workers']} | "
                         f"{p['records_per_s']:.1f} | {p['peak_rss_mb']:.0f} | "
                         f"{p['cache_mb']:.0f} | {p['wall_s']:.1f} |")  # fmt: skip
    lines += ["", "| records | import s | start-up s | step s | batch read s | data share |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for n, r in results["sizes"].items():
        if "train" in r:
            t = r["train"]
            cells = [
                f"{int(n):,}",
                f"{t['import_s']:.1f}",
                f"{t['startup_s']:.1f}",
                f"{t['step_s']:.3f}",
                f"{t['read_s']:.4f}",
                f"{t['data_share']:.1%}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    for n, r in results["sizes"].items():
        if "resume" in r:
            lines.append(f"\nkilled prepare of {int(n):,}: {r['resume']}")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--read-probe"]:
        read_probe(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ssl-ecg-scale"))
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    file = out / "results.json"
    results = json.loads(file.read_text()) if file.is_file() else {"sizes": {}}
    results["machine"] = f"{os.cpu_count()} cores, python {sys.version.split()[0]}"
    for n in (int(s) for s in args.sizes.split(",")):
        corpus = out / f"corpus-{n}"
        make_corpus(corpus, n, workers=2)
        r = results["sizes"].setdefault(str(n), {})
        r["generate_s"] = float((corpus / "done").read_text())
        r["wfdb_mb"] = du(corpus / "wfdb") / 2**20
        if "prepare" not in r:
            runs = []
            for kind, workers in (("wfdb", 1), ("wfdb", 2), ("npy", 2)):
                p = measure_prepare(
                    recipe(corpus, kind), out / f"cache-{n}-{kind}-{workers}", n, workers
                )
                runs.append({"format": kind, **p})
                print(json.dumps(runs[-1]), flush=True)
            r["prepare"] = runs
            file.write_text(json.dumps(results, indent=1))
        if "resume" not in r:
            full = next(
                p["wall_s"] for p in r["prepare"] if p["format"] == "wfdb" and p["workers"] == 2
            )
            r["resume"] = measure_resume(recipe(corpus, "wfdb"), out / f"cache-{n}-resume", n,
                                         kill_after_s=max(5.0, 0.5 * full))  # fmt: skip
            print(json.dumps(r["resume"]), flush=True)
            file.write_text(json.dumps(results, indent=1))
        if "train" not in r and not args.skip_train:
            r["train"] = measure_train(
                recipe(corpus, "wfdb"), out / f"cache-{n}-wfdb-2", out / f"run-{n}"
            )
            print(json.dumps(r["train"]), flush=True)
            file.write_text(json.dumps(results, indent=1))
        for cache in out.glob(f"cache-{n}-*"):  # keep only what training reads
            if cache.name not in (f"cache-{n}-wfdb-2",):
                shutil.rmtree(cache, ignore_errors=True)
    print(table(results))


if __name__ == "__main__":
    main()
