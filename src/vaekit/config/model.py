"""What every model kind's config has: its kind, the image shape, the likelihood, and the conv layout.

Each kind's config (``gaussian.py``, ``tokenizer.py``) extends :class:`ImageModelConfig`; ``kinds.py`` maps a
``kind`` to its class. A kind checks its own cross-field rules in ``validate()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError
from .fields import check_all, setting

# every value of --model (kinds.py: which class is whose)
MODEL_KINDS = ("gaussian", "vq", "fsq", "mgvq", "titok", "video")
LIKELIHOODS = ("bernoulli", "gaussian")
NETS = ("resnet", "plain")
DOWNSAMPLE = (4, 8, 16)


@dataclass
class ImageModelConfig:
    """Settings that every image model kind shares."""

    KINDS: ClassVar[tuple[str, ...]] = ()  # the values of ``kind`` this class configures
    TITLE: ClassVar[str] = ""  # the heading of its flags in `vaekit train --help`

    kind: str = setting("gaussian", "model family", flag="model", choices=MODEL_KINDS)
    preset: str = setting("", "named architecture whose defaults the other settings start from")
    input_shape: tuple[int, ...] = setting(
        (28, 28),
        "image shape (H, W) or (H, W, C), clip shape (T, H, W, C); filled in from the data",
        cli=False,
        length=(1, 4),
        ge=1,
    )
    likelihood: str = setting("bernoulli", "p(x|z): bernoulli on logits, or gaussian with fixed sigma",
                              choices=LIKELIHOODS)  # fmt: skip
    sigma: float = setting(1.0, "decoder std for --likelihood gaussian", gt=0, le=1e6)
    # conv layouts (the conv VAE and the tokenizers)
    net: str = setting("resnet", "conv layout: resnet (group norm, residual blocks) or plain (the earlier stack)",
                       choices=NETS)  # fmt: skip
    downsample: int = setting(4, "conv: spatial reduction f; a token grid is (H/f) x (W/f)", choices=DOWNSAMPLE)
    width: int = setting(32, "conv resnet: channels after the first stride-2 conv, doubled after each further one",
                         ge=1, le=1024)  # fmt: skip
    res_blocks: int = setting(1, "conv resnet: residual blocks at the lowest resolution", ge=0, le=64)

    def validate(self) -> None:
        """Raise a one-line ConfigError for values this kind cannot use."""
        if self.kind not in self.KINDS:
            raise ConfigError(f"model.kind {self.kind!r} is not configured by {type(self).__name__}")
        check_all("model", self)
