"""The Gaussian VAE kind's settings (Kingma & Welling 2013, arXiv 1312.6114): MLP or conv encoder and
decoder, and the posterior variants of the collapse lecture. The model is ``models/gaussian.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from .fields import setting
from .model import MODEL_KINDS, ImageModelConfig

ARCHS = ("mlp", "conv")
ENCODER_PATHS = ("shared", "split", "dvae")
ACTIVATIONS = ("relu", "tanh")

# Named architectures. `classic` is the 784-400-20 model of the original paper and most tutorials;
# `tiny` is the best-scoring architecture found under 300,000 parameters (docs/results.md); `conv` is a
# convolutional VAE; `iwae` is the one-stochastic-layer model of Burda et al. 2015 (arXiv 1509.00519),
# 784-200-200-50 with tanh, the setting of `vaekit study collapse`.
PRESETS: dict[str, dict[str, Any]] = {
    "classic": {"hidden": (400,), "latent_dim": 20},
    "tiny": {"hidden": (144, 128), "latent_dim": 20},
    "conv": {"arch": "conv", "hidden": (), "latent_dim": 20, "channels": (32, 64)},
    "iwae": {"hidden": (200, 200), "latent_dim": 50, "activation": "tanh"},
}


@dataclass
class GaussianConfig(ImageModelConfig):
    """q(z|x) = N(mu(x), diag sigma(x)^2), p(z) = N(0, I)."""

    KINDS: ClassVar[tuple[str, ...]] = ("gaussian",)
    TITLE: ClassVar[str] = "Gaussian VAE (--model gaussian)"

    kind: str = setting("gaussian", "model family", flag="model", choices=MODEL_KINDS)
    preset: str = setting("classic", f"named architecture: {', '.join(PRESETS)}")
    arch: str = setting("mlp", "mlp, or conv (stride-2 convolutions, then the hidden dense layers)", choices=ARCHS)
    hidden: tuple[int, ...] = setting((400,), "dense hidden widths, e.g. 512,256 (the decoder mirrors them)",
                                      length=(0, 16), ge=1, le=65536, meta="W,W")  # fmt: skip
    activation: str = setting("relu", "nonlinearity between the dense layers", choices=ACTIVATIONS)
    latent_dim: int = setting(20, "size of z", ge=1, le=65536)
    channels: tuple[int, ...] = setting((32, 64), "plain conv VAE: channels of its two stride-2 convolutions",
                                        flag="conv_channels", length=(2, 2), ge=1, le=4096, meta="C,C")  # fmt: skip
    encoder_paths: str = setting(
        "shared", "shared trunk with a [mu, logvar] head, split mu/logvar networks, or dvae (path A on x mixed "
        "with path B on a masked x while training)", choices=ENCODER_PATHS)  # fmt: skip
    dvae_mask: float = setting(0.3, "dvae: probability that path B's input drops a pixel", ge=0, lt=1)
    dvae_ramp: int = setting(50, "dvae: epochs until alpha = min(1, epoch / ramp) reaches 1 (0: path A throughout)",
                             ge=0, le=10**7)  # fmt: skip
    posterior_sigma: float = setting(0.0, "> 0: fix q(z|x)'s std to this and learn mu only (0 = learned)",
                                     ge=0, le=1e3)  # fmt: skip

    def validate(self) -> None:
        if self.encoder_paths == "dual":
            raise ConfigError("model.encoder_paths dual is now called split (separate mu and logvar networks)")
        super().validate()
        if self.posterior_sigma > 0 and self.encoder_paths == "split":
            raise ConfigError(
                "a fixed posterior sigma leaves no log-variance path; use encoder_paths = shared or posterior_sigma = 0"
            )
        if self.encoder_paths == "dvae" and self.posterior_sigma > 0:
            raise ConfigError("the dual-path (dvae) encoder is for Gaussian VAEs with a learned posterior sigma")


def preset_config(name: str, **overrides: Any) -> GaussianConfig:
    """A GaussianConfig for a named preset, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return GaussianConfig(preset=name, **(PRESETS[name] | overrides))
