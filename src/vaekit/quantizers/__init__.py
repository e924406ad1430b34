"""Quantizers for discrete latents: VQ (with EMA and dead-code restarts), FSQ, multi-group VQ."""

from ..config.tokenizer import RECOMMENDED_LEVELS, levels_for
from .fsq import FSQ
from .grouped import GroupedVQ
from .vq import VectorQuantizer, VQOutput, kmeans

__all__ = ["FSQ", "RECOMMENDED_LEVELS", "GroupedVQ", "VQOutput", "VectorQuantizer", "kmeans", "levels_for"]
