"""Quantizers for discrete latents: VQ (with EMA and dead-code restarts), FSQ, multi-group VQ; and a continuous
Gaussian latent in their place (a VAE with a grid latent)."""

from ..config.tokenizer import RECOMMENDED_LEVELS, levels_for
from .fsq import FSQ
from .gaussian import GaussianLatent
from .grouped import GroupedVQ
from .vq import VectorQuantizer, VQOutput, kmeans

__all__ = [
    "FSQ",
    "GaussianLatent",
    "RECOMMENDED_LEVELS",
    "GroupedVQ",
    "VQOutput",
    "VectorQuantizer",
    "kmeans",
    "levels_for",
]
