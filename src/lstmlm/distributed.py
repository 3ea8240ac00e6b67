"""Data-parallel training across processes started by torchrun: who this process is, and the
few collective operations the trainer needs.

One process (no torchrun) is a `World` of size 1, whose operations do nothing, so the trainer
has one code path. Under torchrun the environment (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE) says who this process is, and `join` opens the process group: gloo for CPU
tensors, NCCL for CUDA ones.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from .errors import LstmlmError

# How long a collective operation waits for the other processes (seconds; the environment
# variable LSTMLM_DIST_TIMEOUT overrides it): a process that hangs makes the others fail with an
# error after this long rather than wait forever. It is long because the others wait while rank
# 0 alone downloads and tokenises a corpus; a process that dies is noticed by torchrun at once.
DEFAULT_TIMEOUT_SECONDS = 1800.0

Value = TypeVar("Value")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run directory and the log."""
        return self.rank == 0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over all processes (a new tensor; the argument is unchanged)."""
        total = tensor.clone()
        if self.distributed:
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether `flag` is true in any process, so that all of them take the same decision."""
        if not self.distributed:
            return flag
        return bool(self.sum(torch.tensor([int(flag)], device=device)).item())

    def gather_rows(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        """Every process's `tensor` (all of the same shape), concatenated along `dim` in rank
        order."""
        if not self.distributed:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)

    def gather_objects(self, value: Value) -> list[Value]:
        """Every process's `value`, in rank order (small values: they are sent as pickles
        between this run's own processes, never read from a file)."""
        if not self.distributed:
            return [value]
        values = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def from_main(self, compute: Callable[[], Value]) -> Value:
        """`compute()` run by rank 0 alone, its result given to every process; an LstmlmError
        it raises is raised in every process, so that they all stop with the same message."""
        if not self.distributed:
            return compute()
        outcome = [None]
        if self.is_main:
            try:
                outcome = [("ok", compute())]
            except LstmlmError as error:
                outcome = [("error", str(error))]
        dist.broadcast_object_list(outcome, src=0)
        kind, value = outcome[0]
        if kind == "error":
            raise LstmlmError(value)
        return value

    def main_first(self, compute: Callable[[], Value]) -> Value:
        """`compute()` in every process, rank 0's before the others' (which then find what it
        downloaded or cached); rank 0's LstmlmError is raised in every process."""
        results = []
        self.from_main(lambda: results.append(compute()))
        return results[0] if results else compute()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's weights of `module`."""
        if self.distributed:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)


def world_from_environment() -> World:
    """The World torchrun describes in the environment (size 1 without torchrun)."""
    try:
        values = [int(os.environ.get(name, default)) for name, default in (
            ("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1"))]
    except ValueError:
        raise LstmlmError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers "
                          "(they are set by torchrun)") from None
    return World(*values)


def join(world: World, device: torch.device) -> tuple[torch.device, bool]:
    """Open the process group of a distributed `world` (nothing for one process, or where the
    caller has opened it already). Returns the device this process trains on (its own GPU,
    cuda:LOCAL_RANK, for a CUDA run) and whether the group was opened here."""
    if not world.distributed:
        return device, False
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise LstmlmError(f"local rank {world.local_rank} has no GPU ({torch.cuda.device_count()} "
                              f"visible): use --nproc-per-node {torch.cuda.device_count()} or fewer")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    try:
        timeout = float(os.environ.get("LSTMLM_DIST_TIMEOUT", DEFAULT_TIMEOUT_SECONDS))
    except ValueError:
        raise LstmlmError("LSTMLM_DIST_TIMEOUT must be a number of seconds") from None
    if dist.is_initialized():
        return device, False
    # CPU tensors (the checkpoint's random states) go through gloo in a CUDA run too.
    backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout),
                                device_id=device if device.type == "cuda" else None)
    except (ValueError, RuntimeError) as error:
        # e.g. WORLD_SIZE set by hand, without the rendezvous address torchrun also sets.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LstmlmError(f"cannot join the other {world.size - 1} processes (start them with "
                          f"torchrun): {first_line}") from None
    return device, True


def cpu_threads(world: World) -> str | None:
    """Under torchrun on the CPU, share the cores among this machine's processes: torchrun sets
    OMP_NUM_THREADS=1 for several processes, which would leave most cores idle. Returns the log
    line saying so (None when nothing was changed)."""
    if not world.distributed or os.environ.get("OMP_NUM_THREADS") != "1":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // world.local_size)
    torch.set_num_threads(threads)
    return (f"threads: {threads} per process ({cores} cores / {world.local_size} processes on "
            f"this machine; torchrun had set OMP_NUM_THREADS=1)")
