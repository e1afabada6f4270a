"""Fine-tuning selects its checkpoint on validation windows only, stops early, and draws random
crops inside each training record."""

from __future__ import annotations

import numpy as np
import torch

from ssl_ecg.evaluation.finetune import FinetuneSetup, finetune_predict
from ssl_ecg.tasks import LabelledWindows
from ssl_ecg.testing import TinyEncoder


class ArrayStore:
    """A store over one (C, S) array that counts which samples were read."""

    def __init__(self, signal: np.ndarray) -> None:
        self.signal = signal.astype(np.float32)  # (C, S)
        self.reads: list[np.ndarray] = []

    def read_signals(self, starts: np.ndarray, length: int) -> np.ndarray:
        self.reads.append(np.asarray(starts).copy())
        return np.stack([self.signal[:, s : s + length] for s in starts])  # (B, C, T)


def windows(
    store: ArrayStore, starts: list[int], y: list[int], span: bool = False
) -> LabelledWindows:
    n = len(starts)
    spans = np.array([[s - s % 1000, s - s % 1000 + 1000] for s in starts]) if span else None
    return LabelledWindows(store, np.array(starts), 100, np.array(y), np.array(["p"] * n),
                           np.array([f"r{s // 1000}" for s in starts]), span=spans)  # fmt: skip


def data() -> tuple[ArrayStore, LabelledWindows, LabelledWindows, LabelledWindows]:
    rng = np.random.default_rng(0)
    store = ArrayStore(rng.normal(size=(2, 20_000)))
    starts = list(range(0, 20_000, 500))
    y = [int(s // 1000 % 2) for s in starts]
    train = windows(store, starts[:24], y[:24], span=True)
    val = windows(store, starts[24:32], y[24:32])
    test = windows(store, starts[32:], y[32:])
    return store, train, val, test


def test_the_checkpoint_is_chosen_by_the_validation_score_and_stops_early() -> None:
    _, train, val, test = data()
    scores = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0])
    setup = FinetuneSetup(steps=100, checks=10, patience=3, batch_size=8)
    proba, info = finetune_predict(TinyEncoder(2), train, test, 2, False, setup,
                                   torch.device("cpu"), val, lambda p: next(scores))  # fmt: skip
    assert info["selected_step"] == 10 and info["val_score"] == 0.9
    assert info["stopped_at"] == 40, "3 checks without a better score stop the run"
    assert [c[0] for c in info["checks"]] == [10, 20, 30, 40]
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_the_test_windows_are_read_once_after_training() -> None:
    store, train, val, test = data()
    setup = FinetuneSetup(steps=20, checks=4, batch_size=8)
    finetune_predict(TinyEncoder(2), train, test, 2, False, setup, torch.device("cpu"), val,
                     lambda p: float(p[:, 1].mean()))  # fmt: skip
    read = np.concatenate(store.reads)
    test_reads = np.isin(read, test.start)
    assert test_reads.sum() == len(test) and test_reads[-len(test) :].all()


def test_the_selected_checkpoint_gives_the_test_predictions() -> None:
    """Selecting the first check must give the model of step 10, not the last one."""
    _, train, val, test = data()
    first = FinetuneSetup(steps=10, batch_size=8)
    torch.manual_seed(0)
    p10, _ = finetune_predict(TinyEncoder(2), train, test, 2, False, first, torch.device("cpu"))
    scores = iter([1.0, 0.0, 0.0])
    longer = FinetuneSetup(steps=30, checks=3, patience=9, batch_size=8)
    torch.manual_seed(0)
    p, info = finetune_predict(TinyEncoder(2), train, test, 2, False, longer,
                               torch.device("cpu"), val, lambda q: next(scores))  # fmt: skip
    assert info["selected_step"] == 10 and info["stopped_at"] == 30
    assert np.allclose(p, p10, atol=1e-5)


def test_random_crops_start_anywhere_inside_their_record() -> None:
    store, train, _, test = data()
    setup = FinetuneSetup(steps=30, batch_size=16, random_crops=True)
    finetune_predict(TinyEncoder(2), train, test, 2, False, setup, torch.device("cpu"))
    starts = np.concatenate(store.reads[:-1])  # the training batches
    assert (starts % 1000 <= 900).all(), "a crop never leaves its 1000-sample record"
    assert len(set((starts % 1000).tolist())) > 50, "not only the fixed window starts"
    assert not np.isin(starts, test.start).all()
