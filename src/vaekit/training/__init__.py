"""Training: the fused step (K >= 1 models, fp32 or bf16), its CUDA-graph replay, the epoch loop of a run, sweeps,
beta schedules and data parallelism. Built on data/, models/, evaluation/ and runs/; imports nothing above."""

from .loop import Trainer, TrainResult, train
from .step import FusedStep, FusedVAEStep

__all__ = ["FusedStep", "FusedVAEStep", "TrainResult", "Trainer", "train"]
