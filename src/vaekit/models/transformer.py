"""The token transformer: a small decoder-only transformer over a tokenizer's token grids (raster order), the
learned prior p(tokens) of `vaekit prior` (not to be confused with a VAE's fixed prior N(0, I) over z).

van den Oord et al. (VQ-VAE, arXiv 1711.00937) fit a PixelCNN to the codes; VQGAN (arXiv 2012.09841) and the
image tokenizers after it fit a GPT-style transformer, as here: learned token and position embeddings,
pre-norm blocks with causal self-attention, a linear head over the codebook.

A sequence is one image's tokens in raster order (row by row). Multi-group VQ (mgvq) puts its G indices of a
grid position next to each other, so T = h * w * G and the vocabulary is one group's codebook: each group
index is predicted given every earlier position and the earlier groups of the same position. This keeps the
exact factorisation p(tokens) = prod_t p(t_i | t_<i), and with it an exact ``log_prob``, at the price of a
G times longer sequence (7 x 7 x 2 = 98 for MNIST); heads that predicted a position's G indices at once would
have to assume them independent given the past. The position embedding tells the groups apart. The other
prior, ``group_prior.py`` (``group_layers`` >= 1), keeps the same factorisation with one step per position.
Groups of different sizes (16, 64, 256 codes) share one vocabulary of the largest size, and position t may
only take the codes of its group (t mod G): the head's other logits are -inf there, so each conditional is a
distribution over exactly its group's codes and the factorisation, and ``log_prob``, stay exact.

The first input is a start token: one learned vector, or with ``classes`` > 0 one per class (a class-
conditional prior; the label picks the start token).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config.prior import PriorConfig
from ..errors import ConfigError
from .attention import attention

KVCache = list[tuple[Tensor, Tensor]]  # per block: keys and values so far, each (B, heads, t, dim / heads)


class Block(nn.Module):
    """x + attn(ln(x)), then x + mlp(ln(x)); attention is causal."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.heads, self.dropout = cfg.heads, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, t, dim): the new positions; ``cache``: keys and values of the positions before them.
        Returns the output (B, t, dim) and the keys and values of all positions so far."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))  # (B, H, t, hd)
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        past = k.shape[2] - t
        # causal: new position i sees every cached position and the new ones up to itself
        mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
        drop = self.dropout if self.training else 0.0
        y = attention(q, k, v, attn_mask=mask, dropout_p=drop)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k, v)


class PriorBase(nn.Module, ABC):
    """What both token priors share: the start token (one, or one per class), the groups' code masks, GPT-2's
    initialisation, ``log_prob`` from the logits of ``forward`` (B, T) -> (B, T, vocab), and the blocks' run
    with a KV cache."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.start = nn.Embedding(max(cfg.classes, 1), cfg.dim)
        allowed = None
        if cfg.group_vocab:  # (T, vocab): the codes token t may take (its group's, t mod G)
            sizes = torch.tensor(cfg.group_vocab)[torch.arange(cfg.length) % len(cfg.group_vocab)]
            allowed = torch.arange(cfg.vocab)[None, :] < sizes[:, None]
        self.register_buffer("allowed", allowed, persistent=False)

    def _init_weights(self, *positions: nn.Parameter) -> None:
        """GPT-2's initialisation, once every layer exists; ``positions``: the learned position tables."""
        self.apply(self._init)
        for pos in positions:
            nn.init.normal_(pos, std=0.02)
        for blk in self.modules():  # GPT-2: residual projections scaled down with depth
            if isinstance(blk, Block):
                nn.init.normal_(blk.proj.weight, std=0.02 / math.sqrt(2 * self.cfg.layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _start(self, b: int, labels: Tensor | None, device: torch.device) -> Tensor:
        """(B, 1, dim): the start token of each sequence (its class's, when conditional)."""
        if self.cfg.classes:
            if labels is None:
                raise ConfigError("this prior is class-conditional; give a label (--label L)")
            if labels.min() < 0 or labels.max() >= self.cfg.classes:
                raise ConfigError(
                    f"labels must lie in [0, {self.cfg.classes}); got {int(labels.min())}..{int(labels.max())}"
                )
            idx = labels.to(device=device, dtype=torch.long)
        else:
            idx = torch.zeros(b, dtype=torch.long, device=device)
        return self.start(idx)[:, None]

    def _only_allowed(self, logits: Tensor, positions: slice | int) -> Tensor:
        """``logits`` (..., vocab) at ``positions``, -inf where a position's group has no such code."""
        allowed = self.allowed
        if not isinstance(allowed, Tensor):
            return logits
        return logits.masked_fill(~allowed[positions], float("-inf"))

    def log_prob(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """(B, T) tokens -> (B,) log p(tokens) in nats."""
        return self.token_log_probs(tokens, labels).sum(-1)

    def token_log_probs(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """(B, T) tokens -> (B, T) log p(t_i | t_<i) in nats: the terms of ``log_prob``."""
        logp = F.log_softmax(self(tokens, labels).float(), -1)
        return logp.gather(-1, tokens[..., None]).squeeze(-1)

    @staticmethod
    def _run(blocks: nn.ModuleList, x: Tensor, cache: KVCache | None) -> tuple[Tensor, KVCache]:
        """x (B, t, dim) through ``blocks``, after the positions in ``cache``; returns (B, t, dim) and the
        grown cache."""
        new: KVCache = []
        for i, blk in enumerate(blocks):
            x, kv = blk(x, None if cache is None else cache[i])
            new.append(kv)
        return x, new

    @torch.no_grad()
    def generate(
        self,
        n: int,
        labels: Tensor | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        generator: torch.Generator | None = None,
        cache: bool = True,
    ) -> Tensor:
        """``n`` token sequences (n, T) drawn from the prior, in eval mode. With ``cache`` each step feeds only
        the newest input and reuses the keys and values of the earlier ones; without it, each step reruns the
        whole prefix (the reference the cached path is tested against)."""
        if temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {temperature}")
        if top_k < 0:
            raise ConfigError(f"--top-k must be >= 0 (0 = all codes), got {top_k}")
        self.eval()
        return self._generate(n, labels, temperature, top_k, generator, cache)

    @abstractmethod
    def _generate(
        self, n: int, labels: Tensor | None, temperature: float, top_k: int, generator: torch.Generator | None,
        cache: bool,
    ) -> Tensor:  # fmt: skip
        """``generate`` once its arguments are checked: (n, T) tokens."""

    def _draw(
        self, logits: Tensor, position: int, temperature: float, top_k: int, generator: torch.Generator | None
    ) -> Tensor:
        """One code per row from the logits (B, vocab) of token ``position``: its group's codes only, tempered,
        and only the ``top_k`` largest when > 0."""
        logits = self._only_allowed(logits.float(), position) / temperature
        if top_k and top_k < logits.shape[-1]:
            kth = torch.topk(logits, top_k, -1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)


class TokenTransformer(PriorBase):
    """p(tokens) = prod_i p(t_i | start, t_<i) over sequences of ``cfg.length`` tokens in [0, vocab)."""

    def __init__(self, cfg: PriorConfig):
        super().__init__(cfg)
        self.tok = nn.Embedding(cfg.vocab, cfg.dim)
        self.pos = nn.Parameter(torch.zeros(cfg.length, cfg.dim))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab)
        self._init_weights(self.pos)

    def forward(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """tokens (B, T) -> logits (B, T, vocab): position i predicts token i from the start and tokens < i."""
        b, t = tokens.shape
        x = torch.cat([self._start(b, labels, tokens.device), self.tok(tokens[:, :-1])], 1) + self.pos[:t]
        x, _ = self._run(self.blocks, x, None)
        return self._only_allowed(self.head(self.ln(x)), slice(0, t))

    def _step(self, x: Tensor, cache: KVCache | None) -> tuple[Tensor, KVCache]:
        """New positions' embeddings (B, t, dim) -> logits of the last one (B, vocab), and the grown cache."""
        x, new = self._run(self.blocks, x, cache)
        return self.head(self.ln(x[:, -1])), new

    def _generate(
        self, n: int, labels: Tensor | None, temperature: float, top_k: int, generator: torch.Generator | None,
        cache: bool,
    ) -> Tensor:  # fmt: skip
        """One token at a time."""
        device = self.pos.device
        seq = self._start(n, labels, device)  # (n, 1, dim): inputs so far
        out = torch.empty(n, self.cfg.length, dtype=torch.long, device=device)
        kv: KVCache | None = None
        x = seq
        for i in range(self.cfg.length):
            if cache:
                logits, kv = self._step(x + self.pos[i], kv)
            else:
                logits, _ = self._step(seq + self.pos[: i + 1], None)
            out[:, i] = self._draw(logits, i, temperature, top_k, generator)
            x = self.tok(out[:, i : i + 1])  # (n, 1, dim)
            seq = torch.cat([seq, x], 1)
        return out
