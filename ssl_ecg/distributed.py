"""torchrun DDP: process group setup, the data shard of each rank, and a cross-rank check.

Launch with ``torchrun --nproc_per_node=N -m ssl_ecg.cli train RECIPE``. ``[train] batch_size``
is the global batch: each of the N processes takes every N-th window of it, so N processes
step through exactly the windows one process would (multi-GPU behaves like single-GPU).
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

from ssl_ecg.errors import SslEcgError


@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group torchrun describes (NCCL on GPU, gloo on CPU), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return Dist(dist.get_rank(), dist.get_world_size()), device


def teardown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()


def mean(values: dict[str, float], d: Dist, device: torch.device) -> dict[str, float]:
    """The mean of each value over ranks (for logging)."""
    if not d.active:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / d.world).tolist(), strict=True))


def all_true(flag: bool, d: Dist, device: torch.device) -> bool:
    """True on every rank only if ``flag`` is true on every rank."""
    if not d.active:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() == 0)


def fingerprints(module: torch.nn.Module, d: Dist, device: torch.device) -> list[list[float]]:
    """Per rank: (sum, norm) of every parameter, trainable or not (a momentum target too), to
    prove the ranks hold one model. Buffers such as BatchNorm running statistics are left out:
    DDP broadcasts rank 0's before every forward, and only rank 0's are saved."""
    tensors = list(module.parameters())
    mine = torch.tensor(
        [v for t in tensors for v in (t.double().sum().item(), t.double().norm().item())],
        dtype=torch.float64, device=device,
    )  # fmt: skip
    if not d.active:
        return [mine.tolist()]
    out = [torch.empty_like(mine) for _ in range(d.world)]
    dist.all_gather(out, mine)
    return [t.tolist() for t in out]


def shard(batch_size: int, d: Dist) -> int:
    """Windows per rank for a global ``batch_size``."""
    if batch_size % d.world:
        raise SslEcgError(
            f"train.batch_size = {batch_size} is not divisible by the {d.world} processes; "
            "it is the global batch, split evenly between them"
        )
    return batch_size // d.world
