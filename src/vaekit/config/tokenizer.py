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
    group_codes: tuple[int, ...] = setting((), "mgvq: codes per group, coarse to fine, e.g. 16,64,256 (sets --groups; "
                                           "default: --groups groups of --codebook-size)", length=(0, 16), ge=2,
                                           le=2**16, meta="K,K")  # fmt: skip
    nested_groups: bool = setting(False, "mgvq: train coarse to fine (MGVQ): drop a random suffix of the groups "
                                  "with --group-drop's probabilities; l2-normalised codes")  # fmt: skip
    group_drop: tuple[float, ...] = setting((), "mgvq --nested-groups: each group's drop probability, the first 0 "
                                            "(default 0,0.2,0.3,0.4,...: the paper's)", cast=float, length=(0, 16),
                                            ge=0, le=1, meta="P,P")  # fmt: skip
    finetune_epochs: int = setting(0, "mgvq --nested-groups: the last N epochs keep every group (the paper's second "
                                   "stage)", ge=0, le=10**6)  # fmt: skip
    nested_full: bool = setting(False, "mgvq --nested-groups: a step that drops groups also decodes every group and "
                                "adds that reconstruction's loss (vaekit's, not the paper's)")  # fmt: skip
    nested_draw: str = setting("step", "mgvq --nested-groups: how many groups are kept is drawn once per training "
                               "step for the whole batch (the paper's) or once per image (vaekit's)",
                               choices=("step", "image"))  # fmt: skip

    def __post_init__(self) -> None:
        self.preset = self.preset or self.kind  # a tokenizer's architecture is named after its kind
        if self.group_codes:
            self.groups = len(self.group_codes)

    @property
    def group_sizes(self) -> tuple[int, ...]:
        """Codes per group: ``group_codes``, or ``groups`` times ``codebook_size``."""
        return tuple(self.group_codes) or (self.codebook_size,) * self.groups

    @property
    def mgvq_paper(self) -> bool:
        """MGVQ as the paper builds it (grouped 1x1 convolutions around the quantizer, l2-normalised codes): a run
        with ``group_codes`` or ``nested_groups``. Without either, the earlier layout of G equal codebooks."""
        return self.kind == "mgvq" and (bool(self.group_codes) or self.nested_groups)

    @property
    def drop_probs(self) -> tuple[float, ...]:
        """Each group's drop probability in nested training (all 0 without ``nested_groups``)."""
        if not self.nested_groups:
            return (0.0,) * self.groups
        return tuple(self.group_drop) or tuple(0.0 if g == 0 else 0.1 * (g + 1) for g in range(self.groups))

    def validate(self) -> None:
        if self.group_codes:  # the settings may have been set one by one since construction
            self.groups = len(self.group_codes)
        super().validate()
        if self.kind == "mgvq" and self.code_dim % self.groups:
            near = max(self.groups, self.code_dim // self.groups * self.groups)
            raise ConfigError(f"model.code_dim {self.code_dim} must split evenly into {self.groups} groups, e.g. "
                              f"--code-dim {near}")  # fmt: skip
        if self.group_drop and len(self.group_drop) != self.groups:
            n = len(self.group_drop)
            raise ConfigError(f"--group-drop needs one probability per group ({self.groups}), got {n}")
        if self.group_drop and self.group_drop[0] != 0:
            raise ConfigError("--group-drop: the first group is never dropped; start the list with 0")
        per_image = self.nested_draw == "image"
        if (self.group_drop or self.finetune_epochs or self.nested_full or per_image) and not self.nested_groups:
            raise ConfigError("--group-drop, --finetune-epochs, --nested-full and --nested-draw shape nested "
                              "training; add --nested-groups")  # fmt: skip
        if per_image and self.nested_full:
            raise ConfigError("--nested-full decodes one kept prefix per step; use it with --nested-draw step")
