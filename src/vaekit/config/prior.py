"""The token prior's settings: a small decoder-only transformer over a tokenizer's tokens (the model is
``models/transformer.py``), and how ``vaekit prior`` fits it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .fields import check_all, setting
from .run import PRECISIONS


@dataclass
class PriorConfig:
    TITLE = "the transformer"

    vocab: int = setting(512, "codes per token (per group for mgvq); from the tokenizer", cli=False, ge=1, le=2**20)
    length: int = setting(49, "tokens per image: h * w (* G for mgvq); from the tokenizer", cli=False, ge=1,
                          le=2**16)  # fmt: skip
    group_vocab: tuple[int, ...] = setting((), "mgvq with groups of different sizes: codes per group; position t "
                                           "takes only its group's (t mod G); from the tokenizer", cli=False,
                                           length=(0, 16), ge=1, le=2**20)  # fmt: skip
    layers: int = setting(4, "transformer blocks", ge=1, le=64)
    heads: int = setting(4, "attention heads per block", ge=1, le=64)
    dim: int = setting(128, "width of the residual stream", ge=1, le=8192)
    group_layers: int = setting(0, "mgvq: 0 = one step per token (h*w*G steps); N >= 1 = one step per grid "
                                "position, then N blocks over its G groups in turn (RQ-Transformer's depth "
                                "transformer): attention over h*w positions", ge=0, le=64)  # fmt: skip
    classes: int = setting(0, "> 0: class-conditional, one start token per class; set by --conditional",
                           cli=False, ge=0, le=10**6)  # fmt: skip
    dropout: float = setting(0.0, "on attention weights and residual branches while training", ge=0, lt=1)

    def validate(self) -> PriorConfig:
        check_all("prior", self)
        if self.dim % self.heads:
            raise ConfigError(f"prior.dim {self.dim} must split evenly into {self.heads} heads")
        groups = len(self.group_vocab)  # group_vocab comes from the tokenizer (prior_config_for)
        if self.group_layers and (groups < 2 or self.length % groups):
            raise ConfigError(
                f"--group-layers steps over a grid position's groups: it needs an mgvq run of 2 or more groups "
                f"that divide the {self.length} tokens (got {groups} group(s)); drop it for this run"
            )
        return self


@dataclass
class PriorTrainConfig:
    TITLE = "fitting"

    epochs: int = setting(5, "passes over the training set's token grids", ge=1, le=10**6)
    batch_size: int = setting(64, "sequences per step", ge=1, le=2**20)
    lr: float = setting(5e-4, "AdamW peak learning rate (linear warm-up over the first 200 steps)", gt=0, le=10)
    weight_decay: float = setting(0.01, "AdamW weight decay, on matrices only", ge=0, le=10)
    seed: int = setting(0, "initialisation and shuffling", ge=0, le=2**63 - 1)
    precision: str = setting("auto", "fp32, or bf16 products under autocast, the attention and the loss in fp32 "
                             "(auto: bf16 where the hardware is fast at it; a resumed prior keeps its own)",
                             choices=PRECISIONS)  # fmt: skip

    def validate(self) -> PriorTrainConfig:
        check_all("prior", self)
        return self
