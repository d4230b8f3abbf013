"""One process per device: what torchrun tells each process, and the few collectives the
ImageNet loop needs.

``torchrun --nproc_per_node N -m vggrepro train ...`` starts N processes and gives each its
place in the environment: ``RANK`` (0 .. world size - 1, over every node), ``WORLD_SIZE``,
``LOCAL_RANK`` (its device on this node) and ``MASTER_ADDR`` / ``MASTER_PORT`` (where rank 0
listens). Several nodes meet through torchrun's own rendezvous options (``--nnodes``,
``--node_rank``, ``--rdzv_endpoint``); this module only reads what it sets. The process group
uses NCCL when the processes train on CUDA devices, gloo otherwise (the CPU, and the tests).
Without those variables a run is a world of one process, with no process group at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

RENDEZVOUS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The variables torchrun sets for every process it starts."""


class DistributedError(ValueError):
    """A distributed launch that cannot work: a missing variable, a batch the world does not
    divide, ranks that disagree about where the run stands."""


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the one that writes checkpoints, results and nets."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process (and so a process group)."""
        return self.size > 1


def detect(env: Mapping[str, str] | None = None) -> World:
    """The world torchrun's variables in ``env`` (default: this process's environment) describe;
    a world of one when none is set. Raises ``DistributedError`` when only some are set or one
    is not a valid number."""
    env = os.environ if env is None else env
    present = [name for name in RENDEZVOUS if env.get(name)]
    if not present:
        return World()
    missing = [name for name in RENDEZVOUS if name not in present]
    if missing:
        raise DistributedError(
            f"rendezvous variable {missing[0]} is not set (found {', '.join(present)}); start "
            f"every process with torchrun, which sets {', '.join(RENDEZVOUS)}"
        )
    try:
        rank, size, local = (int(env[name]) for name in RENDEZVOUS[:3])
    except ValueError:
        values = ", ".join(f"{n}={env[n]!r}" for n in RENDEZVOUS[:3])
        raise DistributedError(f"rendezvous variables must be integers: {values}") from None
    if not (0 <= rank < size and 0 <= local <= rank):
        raise DistributedError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}: no such place")
    return World(rank, size, local)


def per_rank_batch(global_batch: int, world: World) -> int:
    """Each process's share of the global batch; ``DistributedError`` when it is not whole."""
    if global_batch % world.size:
        raise DistributedError(
            f"the global batch of {global_batch} does not divide evenly over {world.size} "
            f"processes; choose a --batch-size that is a multiple of {world.size}, or another "
            "number of processes"
        )
    return global_batch // world.size


def backend(device: torch.device) -> str:
    """The process group's backend for processes that train on ``device``."""
    return "nccl" if device.type == "cuda" else "gloo"


def device_for(world: World, name: str | None) -> torch.device:
    """This process's device: CUDA device ``LOCAL_RANK`` when CUDA is there (unless ``name`` is
    'cpu'), else the CPU."""
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    if world.local_rank >= torch.cuda.device_count():
        raise DistributedError(
            f"LOCAL_RANK={world.local_rank}, but this node has {torch.cuda.device_count()} "
            "CUDA devices; start at most that many processes per node (--nproc_per_node)"
        )
    torch.cuda.set_device(world.local_rank)
    return torch.device("cuda", world.local_rank)


def start(world: World, device: torch.device) -> None:
    """Join the process group (from torchrun's variables); nothing for a world of one."""
    if world.distributed:
        dist.init_process_group(
            backend(device), rank=world.rank, world_size=world.size,
            device_id=device if device.type == "cuda" else None,
        )  # fmt: skip


def stop(world: World) -> None:
    """Leave the process group."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def total(values: torch.Tensor, world: World) -> torch.Tensor:
    """``values`` summed over every process (in place), the same on each."""
    if world.distributed:
        dist.all_reduce(values)
    return values


def agree(value: int, world: World, what: str) -> None:
    """Check that every process holds the same ``value``; ``DistributedError`` names ``what``."""
    if not world.distributed:
        return
    low = torch.tensor([value, -value], dtype=torch.long)
    if dist.get_backend() == "nccl":
        low = low.cuda()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    lowest, highest = int(low[0]), -int(low[1])
    if lowest != highest:
        raise DistributedError(f"the processes disagree about {what}: from {lowest} to {highest}")


def share(obj: Any, world: World) -> Any:
    """Rank 0's ``obj``, on every process."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
