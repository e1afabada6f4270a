"""Batched augmentations vs. the same operations run per sample in numpy.

    python benchmarks/augmentations.py [--batch 128] [--repeat 7]

The pipeline is the hybrid-learning set, in this order: rpeak_align, amplitude_scale,
gaussian_noise, baseline_wander, powerline, lead_dropout, time_shift, multiscale_time_mask,
random_crop_resize, each with its default settings, on a batch of ``--batch`` windows of 2.5 s
at 250 Hz with 12 and with 2 leads (R-peaks cached, as in training).

(a) ssl-ecg's batched plugins on the CPU, torch.set_num_threads(every core), and again on one
    thread: on a machine shared with other busy processes, OpenMP threads that wait for each
    other can make the multi-threaded run many times slower, and the one-thread line shows it;
(b) a per-sample numpy reference that does the same operations the way ST-MEM's transforms
    run (util/transforms.py in github.com/bakqui/ST-MEM): a Python loop over the samples, each
    (C, T) array passed through one numpy function per augmentation with np.random draws;
(c) the batched plugins on CUDA, when there is a GPU.
Each time is the median over --repeat runs of one whole batch, after two warm-up runs. The load
average is printed before and after. Prints numbers only; no asserts.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from ssl_ecg.interfaces import AugmentationContext, Batch
from ssl_ecg.registry import Registry

FS, WINDOW_S = 250.0, 2.5
PIPELINE = [
    "rpeak_align",
    "amplitude_scale",
    "gaussian_noise",
    "baseline_wander",
    "powerline",
    "lead_dropout",
    "time_shift",
    "multiscale_time_mask",
    "random_crop_resize",
]


# ------------------------------------------------------------------ per-sample numpy reference
# Same operations and default settings as the plugins; x: (C, T) float32, rp: (K,) int64.
def np_rpeak_align(x, rp, mask, offset_s=0.25):
    off = round(offset_s * FS)
    t = x.shape[1]
    usable = rp[(rp >= off) & (rp < t)]
    if usable.size == 0:
        return x, rp, mask
    s = int(np.random.choice(usable)) - off
    out = np.zeros_like(x)
    out[:, : t - s] = x[:, s:]
    rp = rp[rp >= s] - s
    return out, rp, mask


def np_amplitude_scale(x, rp, mask, low=0.8, high=1.25):
    f = np.exp(np.random.uniform(np.log(low), np.log(high), size=(x.shape[0], 1)))
    return (x * f).astype(np.float32), rp, mask


def np_gaussian_noise(x, rp, mask, std=0.05):
    sigma = np.random.uniform(0, std)
    return (x + sigma * np.random.randn(*x.shape)).astype(np.float32), rp, mask


def np_baseline_wander(x, rp, mask, amplitude=0.3, low=0.05, high=0.5, n=2):
    t = np.arange(x.shape[1]) / FS
    f = np.random.uniform(low, high, size=(n, 1))
    ph = np.random.uniform(0, 2 * np.pi, size=(n, 1))
    amp = np.random.uniform(-amplitude, amplitude, size=(x.shape[0], n)) * mask[:, None]
    return (x + amp @ np.sin(2 * np.pi * f * t + ph)).astype(np.float32), rp, mask


def np_powerline(x, rp, mask, freqs=(50.0, 60.0), amplitude=0.1):
    f = np.random.choice(freqs)
    ph = np.random.uniform(0, 2 * np.pi)
    amp = np.random.uniform(0, amplitude, size=(x.shape[0], 1)) * mask[:, None]
    wave = np.sin(2 * np.pi * f / FS * np.arange(x.shape[1]) + ph)
    return (x + amp * wave).astype(np.float32), rp, mask


def np_lead_dropout(x, rp, mask, p_lead=0.25):
    u = np.random.rand(x.shape[0])
    drop = (u < p_lead) & mask
    if mask.any() and not (mask & ~drop).any():
        drop[np.argmax(np.where(mask, u, -1))] = False
    out = x.copy()
    out[drop] = 0
    return out, rp, mask & ~drop


def np_time_shift(x, rp, mask, max_shift_s=0.5):
    m = round(max_shift_s * FS)
    d = np.random.randint(-m, m + 1)
    t = x.shape[1]
    out = np.zeros_like(x)
    if d >= 0:
        out[:, d:] = x[:, : t - d]
    else:
        out[:, : t + d] = x[:, -d:]
    rp = rp + d
    return out, rp[(rp >= 0) & (rp < t)], mask


def np_multiscale_time_mask(x, rp, mask, spans_s=(0.1, 0.4, 1.0)):
    out = x.copy()
    t = x.shape[1]
    for s in spans_s:
        n = max(1, round(s * FS))
        start = np.random.randint(0, t - n + 1)
        out[:, start : start + n] = 0
    return out, rp, mask


def np_random_crop_resize(x, rp, mask, low=0.5, high=1.0):
    t = x.shape[1]
    s = np.random.uniform(low, high)
    a = np.random.uniform(0, (1 - s) * (t - 1))
    src = a + s * np.arange(t)
    i0 = np.clip(np.floor(src).astype(np.int64), 0, t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (src - i0).astype(np.float32)
    out = x[:, i0] * (1 - w) + x[:, i1] * w
    rp = np.round((rp - a) / s).astype(np.int64)
    return out, rp[(rp >= 0) & (rp < t)], mask


NUMPY_PIPELINE = [
    np_rpeak_align,
    np_amplitude_scale,
    np_gaussian_noise,
    np_baseline_wander,
    np_powerline,
    np_lead_dropout,
    np_time_shift,
    np_multiscale_time_mask,
    np_random_crop_resize,
]


def numpy_per_sample(signal: np.ndarray, rpeaks: np.ndarray, lead_mask: np.ndarray) -> None:
    for i in range(signal.shape[0]):  # one sample at a time, as a Dataset.__getitem__ would
        x, rp, mask = signal[i], rpeaks[i][rpeaks[i] >= 0], lead_mask[i]
        for fn in NUMPY_PIPELINE:
            x, rp, mask = fn(x, rp, mask)


# ------------------------------------------------------------------ timing
def median_time(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    for _ in range(2):
        fn()
    sync()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def make_batch(b: int, c: int, t: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Spiky ECG-like windows with cached R-peaks every 0.6-1.0 s (-1 padded), numpy."""
    rng = np.random.default_rng(seed)
    rr = rng.uniform(0.6, 1.0, size=(b, 1)) * FS
    first = rng.uniform(0, 1, size=(b, 1)) * rr
    rpeaks = np.round(first + rr * np.arange(5)).astype(np.int64)  # (B, 5)
    rpeaks[rpeaks >= t] = -1
    signal = 0.1 * rng.standard_normal((b, c, t)).astype(np.float32)
    for i in range(b):
        signal[i][:, rpeaks[i][rpeaks[i] >= 0]] += 3.0
    return signal, rpeaks, np.ones((b, c), dtype=bool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    t = round(WINDOW_S * FS)
    registry = Registry.load()
    ctx = AugmentationContext(FS, t)
    augs = []
    for name in PIPELINE:
        spec = registry.get("augmentation", name)
        augs.append(spec.factory(spec.config(), ctx))

    def batched(batch: Batch, gen: torch.Generator) -> Callable[[], object]:
        def run() -> Batch:
            out = batch
            for aug in augs:
                out = aug(out, gen)
            return out

        return run

    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {cores} cores, "
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}"
    )
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"pipeline: {', '.join(PIPELINE)} (defaults), {WINDOW_S} s at {FS:g} Hz, R-peaks cached")
    print(f"median of {args.repeat} runs per batch of {args.batch}\n")
    cuda = torch.cuda.is_available()
    for c in (12, 2):
        signal, rpeaks, mask = make_batch(args.batch, c, t)
        cpu = Batch(torch.from_numpy(signal), FS, torch.from_numpy(mask), torch.from_numpy(rpeaks))
        gen = torch.Generator().manual_seed(0)
        t_torch = {}
        for threads in dict.fromkeys([args.threads, 1]):
            torch.set_num_threads(threads)
            t_torch[threads] = median_time(batched(cpu, gen), args.repeat, lambda: None)
        torch.set_num_threads(args.threads)
        np.random.seed(0)
        per_sample = functools.partial(numpy_per_sample, signal, rpeaks, mask)
        t_np = median_time(per_sample, args.repeat, lambda: None)
        shape = f"{args.batch} x {c:2d} x {t}"
        for threads, secs in t_torch.items():
            label = f"(a) batched torch, CPU, {threads} thread(s)"
            print(f"[{shape}] {label:38s} {1e3 * secs:8.2f} ms/batch")
        print(f"[{shape}] {'(b) per-sample numpy, CPU':38s} {1e3 * t_np:8.2f} ms/batch")
        for threads, secs in t_torch.items():
            label = f"    ratio numpy / batched, {threads} thread(s)"
            print(f"[{shape}] {label:38s} {t_np / secs:8.2f}x")
        if cuda:
            dev = torch.device("cuda")
            gpu = Batch(cpu.signal.to(dev), FS, cpu.lead_mask.to(dev), cpu.rpeaks.to(dev))
            ggen = torch.Generator(device=dev).manual_seed(0)
            t_gpu = median_time(batched(gpu, ggen), args.repeat, torch.cuda.synchronize)
            print(f"[{shape}] (c) batched torch, {torch.cuda.get_device_name()}: "
                  f"{1e3 * t_gpu:8.2f} ms/batch")  # fmt: skip
            print(f"[{shape}] {'    ratio numpy / GPU':38s} {t_np / t_gpu:8.2f}x")
        else:
            print(f"[{shape}] (c) skipped: torch.cuda.is_available() is False")
        print()
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
