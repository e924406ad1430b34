"""A token prior that takes one step per grid position: RQ-Transformer's spatial and depth transformers (Lee et
al. 2022, "Autoregressive Image Generation using Residual Quantization", arXiv 2203.01941), here over multi-group
VQ's G indices per position (``group_layers`` >= 1; ``vaekit prior --group-layers N``).

The interleaved prior (``transformer.py``) runs one transformer over T = h w G tokens. This one runs its main
("spatial") transformer over the h w positions: position i's input is the sum of the embeddings of position
i - 1's G codes (each group its own codes), so its output s_i summarises every earlier position. A small causal
("depth") transformer of ``group_layers`` blocks then runs over the G groups of position i, on the inputs
[s_i, e(t_i,1), ..., e(t_i,G-1)] plus a learned depth position; its output g predicts t_i,g+1 (groups counted
from 1). So each conditional is p(t_i,g | every earlier position, t_i,<g): the interleaved prior's raster
order and exact factorisation, the same ``log_prob`` over the same (B, T) sequences, and a proper distribution
over exactly group g's codes (the same masks). What changes is the cost: attention over h w positions, not
h w G (emoji at 16 x 16 x 3: 256 instead of 768), and the wide blocks run G times fewer steps.

RQ-Transformer's depth inputs are partial sums of residual codes' embeddings; mgvq's groups are not residual
(each quantises its own channels), so each earlier group's code enters the depth transformer on its own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config.prior import PriorConfig
from .transformer import Block, KVCache, PriorBase, TokenTransformer


class GroupStepTransformer(PriorBase):
    """p(tokens) over (B, h w G) sequences (a position's G groups together), one spatial step per position."""

    offsets: Tensor  # (G,): where each group's codes start in the embedding tables

    def __init__(self, cfg: PriorConfig):
        super().__init__(cfg)
        groups = self.groups = len(cfg.group_vocab)
        positions = cfg.length // groups
        # every group's codes in one table: group g's code c is row g * vocab + c
        self.register_buffer("offsets", torch.arange(groups) * cfg.vocab, persistent=False)
        self.tok = nn.Embedding(groups * cfg.vocab, cfg.dim)  # the spatial input: a position's codes, summed
        self.code = nn.Embedding(groups * cfg.vocab, cfg.dim)  # the depth input: one earlier group's code
        self.pos = nn.Parameter(torch.zeros(positions, cfg.dim))
        self.depth_pos = nn.Parameter(torch.zeros(groups, cfg.dim))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.depth = nn.ModuleList([Block(cfg) for _ in range(cfg.group_layers)])
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab)
        self._init_weights(self.pos, self.depth_pos)

    def forward(self, tokens: Tensor, labels: Tensor | None = None) -> Tensor:
        """tokens (B, T) -> logits (B, T, vocab): token i predicted from the start and the tokens < i."""
        b, t = tokens.shape
        g, dim = self.groups, self.cfg.dim
        p = t // g
        codes = tokens.view(b, p, g) + self.offsets  # (B, p, G)
        x = torch.cat([self._start(b, labels, tokens.device), self.tok(codes[:, :-1]).sum(2)], 1) + self.pos[:p]
        s, _ = self._run(self.blocks, x, None)  # (B, p, dim): s_i sees positions < i
        d = torch.cat([s[:, :, None], self.code(codes[:, :, :-1])], 2) + self.depth_pos  # (B, p, G, dim)
        d, _ = self._run(self.depth, d.reshape(b * p, g, dim), None)
        return self._only_allowed(self.head(self.ln(d)).reshape(b, t, -1), slice(0, t))

    def _generate(
        self, n: int, labels: Tensor | None, temperature: float, top_k: int, generator: torch.Generator | None,
        cache: bool,
    ) -> Tensor:  # fmt: skip
        """Per position one spatial step (with ``cache``, of the newest position only), then its G codes one at a
        time; the depth transformer reruns its few (G) inputs for each group."""
        g = self.groups
        seq = self._start(n, labels, self.pos.device)  # (n, 1, dim): spatial inputs so far
        out = torch.empty(n, self.cfg.length, dtype=torch.long, device=seq.device)
        kv: KVCache | None = None
        x = seq
        for i in range(self.cfg.length // g):
            if cache:
                s, kv = self._run(self.blocks, x + self.pos[i], kv)
            else:
                s, _ = self._run(self.blocks, seq + self.pos[: i + 1], None)
            d = s[:, -1:] + self.depth_pos[0]  # (n, 1, dim): depth inputs so far
            for j in range(g):
                y, _ = self._run(self.depth, d, None)
                k = i * g + j
                out[:, k] = self._draw(self.head(self.ln(y[:, -1])), k, temperature, top_k, generator)
                if j + 1 < g:
                    d = torch.cat([d, (self.code(out[:, k] + self.offsets[j]) + self.depth_pos[j + 1])[:, None]], 1)
            x = self.tok(out[:, i * g : (i + 1) * g] + self.offsets).sum(1)[:, None]  # (n, 1, dim)
            seq = torch.cat([seq, x], 1)
        return out


def build_prior(cfg: PriorConfig) -> PriorBase:
    """The token prior ``cfg`` describes: one step per grid position (``group_layers`` >= 1) or per token."""
    return GroupStepTransformer(cfg) if cfg.group_layers else TokenTransformer(cfg)
