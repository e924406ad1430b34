"""Quantizers for discrete latents: VQ (with EMA and dead-code restarts), FSQ, multi-group VQ."""

from .fsq import FSQ, RECOMMENDED_LEVELS, levels_for
from .grouped import GroupedVQ
from .vq import VectorQuantizer, VQOutput, kmeans

__all__ = ["FSQ", "RECOMMENDED_LEVELS", "GroupedVQ", "VQOutput", "VectorQuantizer", "kmeans", "levels_for"]
