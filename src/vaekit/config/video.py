"""The video tokenizer kind's settings, after the Cosmos tokenizer (NVIDIA 2025, arXiv 2501.03575; reference code
NVIDIA/Cosmos-Tokenizer): causal 3-D convolutions, so that frame 0 is encoded on its own and a one-frame clip is
an image; factorised residual blocks (a 1x3x3 spatial convolution, then a 3x1x1 temporal one); a clip of 1 + T
frames becomes 1 + T / t latent frames of (H / f) x (W / f) tokens. The model is ``models/video.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError
from .fields import setting
from .model import MODEL_KINDS
from .tokenizer import QuantizedConfig

TIME_DOWNSAMPLE = (1, 2, 4, 8)
VIDEO_QUANTIZERS = ("fsq", "vq", "gaussian")


@dataclass
class VideoConfig(QuantizedConfig):
    """A (1 + T, H, W, C) clip -> a (1 + T/t, H/f, W/f) grid of tokens -> the clip."""

    KINDS: ClassVar[tuple[str, ...]] = ("video",)
    TITLE: ClassVar[str] = "video tokenizer (--model video)"

    kind: str = setting("video", "model family", flag="model", choices=MODEL_KINDS)
    time_downsample: int = setting(4, "video: temporal reduction t; 1 + T frames become 1 + T/t latent frames",
                                   choices=TIME_DOWNSAMPLE)  # fmt: skip
    wavelet: bool = setting(True, "video: a 2x2x2 Haar wavelet on the input, as Cosmos, in place of one level of f "
                            "and t (off: 8x the convolutions' work at full size)")  # fmt: skip
    video_quantizer: str = setting("fsq", "video: fsq (--levels; 8,8,8,6,5 = 15,360 codes), vq, or gaussian: a "
                                   "continuous latent of --code-dim channels, a video VAE",
                                   choices=VIDEO_QUANTIZERS)  # fmt: skip
    levels: tuple[int, ...] = setting((8, 8, 8, 6, 5), "fsq: levels per channel (8,5,5,5 = 1000 codes)",
                                      length=(1, 16), ge=2, le=2**16, meta="L,L")  # fmt: skip
    code_dim: int = setting(16, "vq/mgvq: channels of each token vector; video gaussian: of each latent position",
                            ge=1, le=4096)  # fmt: skip
    width: int = setting(16, "conv resnet: channels after the first stride-2 conv, doubled after each further one",
                         ge=1, le=1024)  # fmt: skip

    def __post_init__(self) -> None:
        self.preset = self.preset or self.kind

    @property
    def quantizer(self) -> str:
        return self.video_quantizer

    @property
    def levels_down(self) -> tuple[int, int]:
        """(spatial, temporal) halvings: log2 f and log2 t."""
        return self.downsample.bit_length() - 1, self.time_downsample.bit_length() - 1

    def token_grid(self) -> tuple[int, int, int]:
        """(1 + T/t, H/f, W/f): the tokens of one clip of ``input_shape`` (T here counts every frame)."""
        frames, h, w = self.input_shape[:3]
        return 1 + (frames - 1) // self.time_downsample, h // self.downsample, w // self.downsample

    def validate(self) -> None:
        super().validate()
        if self.wavelet and self.time_downsample == 1:
            raise ConfigError("video: --wavelet halves time too; use --time-downsample 2 or more")

    def check_shape(self) -> None:
        """The clip-dependent rules, once ``input_shape`` is the data's (the model checks them when built)."""
        if len(self.input_shape) != 4:
            raise ConfigError(f"--model video takes clips (T, H, W, C); this data has images {self.input_shape}; "
                              "use --dataset moving-mnist, an .npz of (N, T, H, W, C) or a folder of GIFs")  # fmt: skip
        frames, h, w, _ = self.input_shape
        t, f = self.time_downsample, self.downsample
        if (frames - 1) % t:
            raise ConfigError(f"video: clips of {frames} frames; 1 + a multiple of --time-downsample {t} are "
                              f"needed, e.g. --frames {1 + max(1, (frames - 1) // t) * t}")  # fmt: skip
        if h % f or w % f:
            raise ConfigError(f"video: the frame sides {h}x{w} must be divisible by --downsample {f}")
