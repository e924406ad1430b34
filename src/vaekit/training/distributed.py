"""Data-parallel context: torchrun's process group, this process's rank, gradient all-reduce."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch


@dataclass
class Dist:
    """Data-parallel context: this process's rank among ``world`` processes (1 = single process)."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_(self, t: torch.Tensor, average: bool = False) -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
            if average:
                t.div_(self.world)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def init_distributed(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1). The group is joined once per process
    and left at exit, so a script may train several runs in one launch (a group cannot be joined again after
    it was destroyed: the launcher's store still holds the first one's keys)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave, dist.group.WORLD)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Dist(dist.get_rank(), dist.get_world_size())


def _leave(group: object) -> None:
    import torch.distributed as dist

    if dist.is_initialized() and dist.group.WORLD is group:  # not already left by the script itself
        dist.destroy_process_group()
