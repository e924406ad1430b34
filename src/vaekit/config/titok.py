"""The 1-D tokenizer kind's settings (TiTok; Yu et al. 2024, "An Image is Worth 32 Tokens for Reconstruction and
Generation", arXiv 2406.07550): a ViT encoder whose K learnable latent tokens become the image's tokens, a
quantizer (VQ with l2-normalised codes, or FSQ), and a ViT decoder that reads the K tokens and one mask token per
patch back into pixels. With ``nested_dropout`` the tokens are ordered: any prefix decodes (FlexTok, arXiv
2502.13967; One-D-Piece, arXiv 2501.10064). The model is ``models/titok.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError
from .fields import setting
from .model import MODEL_KINDS
from .tokenizer import QuantizedConfig

TOKEN_COUNTS = (8, 16, 32, 64, 128, 256)


@dataclass
class TiTokConfig(QuantizedConfig):
    """An (H, W, C) image -> K tokens in a row -> the image."""

    KINDS: ClassVar[tuple[str, ...]] = ("titok",)
    TITLE: ClassVar[str] = "1-D tokenizer (--model titok)"

    kind: str = setting("titok", "model family", flag="model", choices=MODEL_KINDS)
    tokens: int = setting(32, "titok: K, the tokens per image", choices=TOKEN_COUNTS)
    patch: int = setting(8, "titok: p, the side of the square patches the ViTs see (H and W divisible by p)",
                         ge=1, le=64)  # fmt: skip
    width: int = setting(64, "conv resnet: channels after the first stride-2 conv; titok: the ViTs' width",
                         ge=1, le=1024)  # fmt: skip
    depth: int = setting(2, "titok: transformer blocks in the encoder, and as many in the decoder", ge=1, le=48)
    heads: int = setting(4, "titok: attention heads (must divide --width)", ge=1, le=64)
    token_quantizer: str = setting("vq", "titok: vq (l2-normalised codes, as the paper) or fsq (--levels)",
                                   choices=("vq", "fsq"))  # fmt: skip
    nested_dropout: bool = setting(False, "titok: train on a random prefix of each image's tokens, so that any "
                                   "prefix decodes (the rest become a learned absent token)")  # fmt: skip
    code_dim: int = setting(12, "vq/mgvq/titok: channels of each token vector", ge=1, le=4096)
    codebook_size: int = setting(1024, "vq/mgvq/titok: codes per codebook; fsq: picks the paper's levels",
                                 ge=2, le=2**20)  # fmt: skip

    def __post_init__(self) -> None:
        self.preset = self.preset or self.kind

    @property
    def quantizer(self) -> str:
        return self.token_quantizer

    @property
    def grid(self) -> tuple[int, int]:
        """(H/p, W/p): the patches of one image."""
        return self.input_shape[0] // self.patch, self.input_shape[1] // self.patch

    def validate(self) -> None:
        super().validate()
        if self.width % self.heads:
            raise ConfigError(f"titok: --width {self.width} must split evenly into --heads {self.heads}")

    def check_shape(self) -> None:
        """The image-dependent rules, once ``input_shape`` is the data's (the model checks them when built)."""
        h, w = self.input_shape[:2]
        if h % self.patch or w % self.patch:
            raise ConfigError(f"titok: the image sides {h}x{w} must be divisible by --patch {self.patch}")
        patches = (h // self.patch) * (w // self.patch)
        if patches + self.tokens > 4096:
            raise ConfigError(f"titok: {patches} patches + {self.tokens} tokens is too long a sequence; "
                              "raise --patch")  # fmt: skip
