"""The grid tokenizer kind's settings: a conv encoder, a quantizer per grid position (VQ, van den Oord et al.
2017, arXiv 1711.00937; FSQ, Mentzer et al. 2023, arXiv 2309.15505; multi-group VQ), a conv decoder. The model
is ``models/tokenizer.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError
from .fields import setting
from .model import MODEL_KINDS, ImageModelConfig

TOKENIZER_KINDS = ("vq", "fsq", "mgvq")

# The paper's recommended level lists by (approximate) codebook size (Table 1 / Appendix).
RECOMMENDED_LEVELS: dict[int, tuple[int, ...]] = {
    2**8: (8, 6, 5),
    2**10: (8, 5, 5, 5),
    2**12: (7, 5, 5, 5, 5),
    2**14: (8, 8, 8, 6, 5),
    2**16: (8, 8, 8, 5, 5, 5),
}


def levels_for(codebook_size: int) -> tuple[int, ...]:
    """The paper's level list for a codebook of 2^8 ... 2^16 codes."""
    if codebook_size not in RECOMMENDED_LEVELS:
        sizes = ", ".join(f"2^{int(math.log2(k))}" for k in RECOMMENDED_LEVELS)
        raise ConfigError(
            f"no recommended FSQ levels for {codebook_size} codes; choose one of {sizes} or pass --levels"
        )
    return RECOMMENDED_LEVELS[codebook_size]


@dataclass
class QuantizedConfig(ImageModelConfig):
    """The quantizer settings that every discrete tokenizer kind shares (grid and 1-D)."""

    codebook_size: int = setting(512, "vq/mgvq: codes per codebook; fsq: picks the paper's levels for 2^8..2^16",
                                 ge=2, le=2**20)  # fmt: skip
    code_dim: int = setting(64, "vq/mgvq: channels of each token vector", ge=1, le=4096)
    levels: tuple[int, ...] = setting((8, 5, 5, 5), "fsq: levels per channel (8,5,5,5 = 1000 codes)",
                                      length=(1, 16), ge=2, le=2**16, meta="L,L")  # fmt: skip
    codebook_update: str = setting("loss", "vq/mgvq: codebook loss, or ema (moving averages, decay 0.99)",
                                   choices=("loss", "ema"))  # fmt: skip
    commitment: float = setting(0.25, "vq/mgvq: beta_c, the weight of the commitment loss", ge=0, le=1e3)
    dead_code_restart: bool = setting(True, "vq/mgvq: re-seed codes unused for --dead-after steps")
    dead_after: int = setting(100, "vq/mgvq: steps without use before a code counts as dead", ge=1, le=10**9)

    @property
    def quantizer(self) -> str:
        """Which quantizer the tokens come from: vq, fsq or mgvq."""
        return self.kind


@dataclass
class TokenizerConfig(QuantizedConfig):
    """An (H, W, C) image -> an (H/f, W/f) grid of tokens -> the image."""

    KINDS: ClassVar[tuple[str, ...]] = TOKENIZER_KINDS
    TITLE: ClassVar[str] = "grid tokenizers (--model vq|fsq|mgvq)"

    kind: str = setting("vq", "model family", flag="model", choices=MODEL_KINDS)
    groups: int = setting(2, "mgvq: codebooks per token", ge=1, le=64)

    def __post_init__(self) -> None:
        self.preset = self.preset or self.kind  # a tokenizer's architecture is named after its kind

    def validate(self) -> None:
        super().validate()
        if self.kind == "mgvq" and self.code_dim % self.groups:
            raise ConfigError(f"model.code_dim {self.code_dim} must split evenly into {self.groups} groups")
