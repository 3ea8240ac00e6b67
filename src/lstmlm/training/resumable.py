"""The resumable state of a run (last.safetensors): writing it, and continuing from it."""

from __future__ import annotations

from .. import checkpoint
from ..budget import Clock
from ..errors import LstmlmError
from ..model import State
from ..rundir import RunDir
from .progress import TrainState
from .setup import Training
from .sharding import Shard


def save_resumable(run_dir: RunDir, training: Training, state: TrainState, hidden: State | None,
                   clock: Clock, shard: Shard) -> None:
    """Write the resumable state, recording the time spent so far. In a distributed run rank
    0 writes it, with every process's rows of the recurrent state and random states."""
    world = shard.world
    state.elapsed_seconds = clock.elapsed()
    if hidden is not None:
        hidden = tuple(world.gather_rows(tensor, dim=1) for tensor in hidden)
    other_ranks_rng = ()
    if world.distributed:
        other_ranks_rng = world.gather_objects(
            {kind: rng.cpu() for kind, rng in checkpoint.rng_state(shard.device).items()})[1:]
    if world.is_main:
        checkpoint.save_training_state(run_dir / RunDir.LAST, training.network,
                                       training.optimizer, state.to_dict(), hidden,
                                       training.scaler.state_dict() if training.scaler else None,
                                       other_ranks_rng)


def restore(run_dir: RunDir, training: Training, optimizer_for, shard: Shard,
            batch_size: int) -> tuple[TrainState, State | None]:
    """Continue from the run's last.safetensors: the weights, the optimizer (of the phase the
    state is in, from `optimizer_for(state)`), the RNG and the position. Returns the progress
    and this process's rows of the recurrent state."""
    last_path = run_dir / RunDir.LAST
    saved, hidden, training.optimizer, scaler_state = checkpoint.load_training_state(
        last_path, training.network, optimizer_for, shard.device, shard.world.rank)
    saved_size, size = saved.get("world_size", 1), shard.world.size
    if saved_size != size:
        raise LstmlmError(f"{run_dir} was trained by {saved_size} "
                          f"process{'es' if saved_size > 1 else ''}; resume it with the "
                          f"same number (this is {size})")
    state = TrainState.from_dict(saved)
    if training.scaler is not None and scaler_state:
        training.scaler.load_state_dict(scaler_state)
    expected = [tensor.shape
                for tensor in training.network.init_state(shard.rows(batch_size))]
    if hidden is not None and [tensor.shape for tensor in hidden] != expected:
        raise LstmlmError(f"{last_path}: its recurrent state does not fit this model "
                          f"(saved by another version of lstmlm?)")
    # The saved state holds every process's rows (dimension 1 of each tensor).
    own: State | None = hidden and tuple(shard.own_rows(tensor, batch_size, dim=1)
                                         for tensor in hidden)
    return state, own

