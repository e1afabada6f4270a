"""How fast ``ssl_ecg.load_encoder(...).embed`` turns a raw recording into embeddings.

    python benchmarks/embed_speed.py [--windows 10000] [--recipe recipes/hybrid.toml]
                                     [--threads N] [--set encoder.dim=192 ...]

The encoder is the recipe's (default: the main job's 1-D ViT, random init: speed does not
depend on the weights). A 1-lead recording of ``windows`` non-overlapping windows at 360 Hz
(so resampling runs) is embedded end to end: lead selection, band-pass, resampling,
normalisation, windowing and the encoder, in batches of 2048 on the CPU. Prints windows/s for
the whole call and for the encoder alone (target: >= 2000 windows/s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes" / "hybrid.toml")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from ssl_ecg.embed import LoadedEncoder, _forward
    from ssl_ecg.evaluation import load_model

    model = load_model("random", args.recipe, args.sets)
    enc = LoadedEncoder(model.encoder.eval(), model.contract, model.description)
    c = model.contract
    fs_in = 360.0
    seconds = args.windows * c["window_s"]
    t = np.arange(round(seconds * fs_in)) / fs_in
    rng = np.random.default_rng(0)
    raw = (np.sin(2 * np.pi * 1.2 * t) ** 15 + 0.05 * rng.standard_normal(t.size))[None]
    enc.embed(raw[:, : round(10 * c["window_s"] * fs_in)], fs=fs_in, leads=["II"])  # warm up

    t0, cpu0 = time.perf_counter(), time.process_time()
    z = enc.embed(raw, fs=fs_in, leads=["II"])
    whole, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    x = np.random.default_rng(1).standard_normal((z.shape[0], len(c["leads"]), c["n_samples"]))
    x = x.astype(np.float32)
    t0 = time.perf_counter()
    _forward(enc.encoder, lambda idx: x[idx], x.shape[0], torch.device("cpu"))
    forward = time.perf_counter() - t0
    n_params = sum(p.numel() for p in enc.encoder.parameters())
    print(f"encoder: {args.recipe.name} {c['n_samples']}-sample windows at {c['fs']:g} Hz, "
          f"{n_params / 1e6:.2f} M parameters, {enc.dim} dimensions; "
          f"{args.threads} threads")  # fmt: skip
    print(f"embed() of a {seconds / 3600:.1f} h recording: {z.shape[0]} windows in {whole:.2f} s "
          f"= {z.shape[0] / whole:,.0f} windows/s (preprocessing included)")  # fmt: skip
    print(f"encoder alone: {x.shape[0] / forward:,.0f} windows/s")
    # on a busy machine the wall clock shares the cores: CPU time says what idle cores would do
    print(f"CPU time of embed(): {cpu:.2f} s = {z.shape[0] * args.threads / cpu:,.0f} windows/s "
          f"on {args.threads} idle cores (load average now {os.getloadavg()[0]:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
