"""A causal video tokenizer after Cosmos (NVIDIA 2025, arXiv 2501.03575; reference code NVIDIA/Cosmos-Tokenizer,
``modules/layers3d.py`` and ``patching.py``): a (1 + T, H, W, C) clip -> a (1 + T/t, H/f, W/f) grid of tokens ->
the clip.

Causality: every convolution pads time on the left by repeating the first frame, and every norm is per frame, so
latent frame j sees input frames 0 ... j t only. Frame 0 is encoded on its own: a one-frame clip is an image,
and the same model tokenizes images. The temporal down-sampling prepends frame 0 once more (Cosmos'
``replication_pad``), so that 1 + T frames become 1 + T/2; the up-sampling repeats each latent frame twice and
drops the first copy, the inverse count. Blocks are factorised: a 1x3x3 spatial convolution, then a 3x1x1
temporal one. ``--wavelet`` puts a one-level 3-D Haar transform (orthonormal, frame 0 repeated as Cosmos' 3-D
patcher does) before the encoder and its inverse after the decoder, in place of one level of down-sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import VideoConfig
from .tokenizer import Tokenizer


def _prepend_first(x: Tensor, n: int) -> Tensor:
    """(B, C, T, H, W) with frame 0 repeated ``n`` more times in front."""
    return torch.cat([x[:, :, :1].expand(-1, -1, n, -1, -1), x], 2) if n > 0 else x


class CausalConv3d(nn.Module):
    """A 3-D convolution whose time axis is padded on the left only, by copies of frame 0 (kt - st of them), and
    whose space is zero-padded to keep its size (stride 1)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - stride[0]
        self.conv = nn.Conv3d(cin, cout, kernel, stride, padding=(0, kh // 2, kw // 2))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        return self.conv(_prepend_first(x, self.time_pad))


class FrameNorm(nn.GroupNorm):
    """Group norm over each frame's channels and pixels (never across frames: that would leak the future)."""

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


def _norm(c: int) -> FrameNorm:
    return FrameNorm(math.gcd(8, c), c)


class FactorisedBlock(nn.Module):
    """Pre-activation residual block; each convolution is a 1x3x3 spatial one followed by a 3x1x1 temporal one."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.norm2 = _norm(cin), _norm(cout)
        self.conv1 = nn.Sequential(CausalConv3d(cin, cout, (1, 3, 3)), CausalConv3d(cout, cout, (3, 1, 1)))
        self.conv2 = nn.Sequential(CausalConv3d(cout, cout, (1, 3, 3)), CausalConv3d(cout, cout, (3, 1, 1)))
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Down(nn.Module):
    """Halve space and / or time, as Cosmos' hybrid down-sampling: a strided convolution plus average pooling,
    then a 1x1x1 convolution. Time: 1 + T frames -> 1 + T/2 (frame 0 is prepended once)."""

    def __init__(self, c: int, space: bool, time: bool):
        super().__init__()
        self.space, self.time = space, time
        self.conv_s = nn.Conv3d(c, c, (1, 3, 3), (1, 2, 2)) if space else None
        self.conv_t = CausalConv3d(c, c, (3, 1, 1), (2, 1, 1)) if time else None
        self.mix = nn.Conv3d(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv_s is not None:
            x = F.pad(x, (0, 1, 0, 1))
            x = self.conv_s(x) + F.avg_pool3d(x, (1, 2, 2), (1, 2, 2))
        if self.conv_t is not None:
            x = _prepend_first(x, 1)
            x = self.conv_t(x) + F.avg_pool3d(x, (2, 1, 1), (2, 1, 1))
        return self.mix(x)


class Up(nn.Module):
    """Double time and / or space, the inverse counts of ``Down``: time repeats each frame twice and drops the
    first copy (1 + T/2 -> 1 + T), space repeats pixels; each is followed by a residual convolution."""

    def __init__(self, c: int, space: bool, time: bool):
        super().__init__()
        self.conv_t = CausalConv3d(c, c, (3, 1, 1)) if time else None
        self.conv_s = CausalConv3d(c, c, (1, 3, 3)) if space else None
        self.mix = nn.Conv3d(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv_t is not None:
            x = x.repeat_interleave(2, dim=2)[:, :, 1:]
            x = x + self.conv_t(x)
        if self.conv_s is not None:
            x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
            x = x + self.conv_s(x)
        return self.mix(x)


_HAAR = torch.tensor([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2.0)
HAAR3 = torch.kron(torch.kron(_HAAR, _HAAR), _HAAR)  # (8, 8): orthonormal and symmetric, its own inverse


def haar3d(x: Tensor) -> Tensor:
    """(B, C, 1 + T, H, W) -> (B, 8C, 1 + T/2, H/2, W/2): one level of the 3-D Haar transform over 2x2x2 blocks,
    frame 0 repeated once in front (so that it forms a block of its own)."""
    x = _prepend_first(x, 1)
    b, c, t, h, w = x.shape
    blocks = x.reshape(b, c, t // 2, 2, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 7, 2, 4, 6)
    y = torch.einsum("ij,bcjthw->bcithw", HAAR3.to(x), blocks.reshape(b, c, 8, t // 2, h // 2, w // 2))
    return y.reshape(b, c * 8, t // 2, h // 2, w // 2)


def inverse_haar3d(y: Tensor) -> Tensor:
    """The inverse of ``haar3d``: (B, 8C, 1 + T/2, H/2, W/2) -> (B, C, 1 + T, H, W)."""
    b, c8, t2, h2, w2 = y.shape
    c = c8 // 8
    blocks = torch.einsum("ij,bcjthw->bcithw", HAAR3.to(y), y.reshape(b, c, 8, t2, h2, w2))
    x = blocks.reshape(b, c, 2, 2, 2, t2, h2, w2).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c, 2 * t2, 2 * h2, 2 * w2)[:, :, 1:]


class VideoTokenizer(Tokenizer):
    """Causal 3-D conv encoder -> quantizer (FSQ or VQ; or a Gaussian latent, which makes it a video VAE) at each
    latent position -> causal 3-D conv decoder."""

    cfg: VideoConfig

    def __init__(self, cfg: VideoConfig):
        super().__init__(cfg)
        cfg.check_shape()
        frames, h, w, c = cfg.input_shape
        self.clip = (frames, h, w, c)
        ls, lt = cfg.levels_down
        cin = c * 8 if cfg.wavelet else c
        if cfg.wavelet:  # the transform is the first level of both
            ls, lt = ls - 1, max(lt - 1, 0)
        levels = max(ls, lt)
        width = [cfg.width * 2 ** min(i, 2) for i in range(levels + 1)]  # doubled per level, at most 4x
        d = self.code_dim

        enc: list[nn.Module] = [CausalConv3d(cin, width[0], (3, 3, 3))]
        for i in range(levels):
            enc += [FactorisedBlock(width[i], width[i + 1])]
            enc += [FactorisedBlock(width[i + 1], width[i + 1]) for _ in range(cfg.res_blocks - 1)]
            enc += [Down(width[i + 1], space=i < ls, time=i < lt)]
        top = width[levels]
        gaussian = cfg.quantizer == "gaussian"  # the encoder gives [mu, logvar] per position
        enc += [FactorisedBlock(top, top), _norm(top), nn.SiLU(), nn.Conv3d(top, 2 * d if gaussian else d, 1)]
        if cfg.quantizer == "fsq":  # keep each channel off tanh's flat tails (see ConvTokenizer)
            enc.append(nn.BatchNorm3d(d, affine=False))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [CausalConv3d(d, top, (3, 3, 3)), FactorisedBlock(top, top)]
        for i in reversed(range(levels)):
            dec += [Up(width[i + 1], space=i < ls, time=i < lt)]
            dec += [FactorisedBlock(width[i + 1], width[i + 1]) for _ in range(cfg.res_blocks - 1)]
            dec += [FactorisedBlock(width[i + 1], width[i])]
        dec += [_norm(width[0]), nn.SiLU(), CausalConv3d(width[0], cin, (3, 3, 3))]
        self.decoder = nn.Sequential(*dec)

    @property
    def grid(self) -> tuple[int, int]:
        return self.cfg.token_grid()[1:]

    @property
    def token_shape(self) -> tuple[int, ...]:
        return self.cfg.token_grid()

    def _clips(self, x: Tensor) -> Tensor:
        """(B, P) channel-last pixels -> (B, C, T, H, W); any frame count 1 + a multiple of t passes."""
        _, h, w, c = self.clip
        x = x.reshape(x.shape[0], -1, h, w, c).permute(0, 4, 1, 2, 3)
        return haar3d(x) if self.cfg.wavelet else x

    def encode(self, x: Tensor) -> Tensor:
        """(B, P) clips -> (B, 1 + T/t, H/f, W/f, D)."""
        return self.encoder(self._clips(x)).permute(0, 2, 3, 4, 1)

    def decode(self, z_q: Tensor) -> Tensor:
        """(B, t', h, w, D) codes -> (B, P) decoder output, channel-last."""
        y = self.decoder(z_q.permute(0, 4, 1, 2, 3))
        if self.cfg.wavelet:
            y = inverse_haar3d(y)
        return y.permute(0, 2, 3, 4, 1).reshape(y.shape[0], -1)

    def mean_image(self, out: Tensor) -> Tensor:
        """Decoder output -> expected clips in [0, 1], (B, T, H, W, C) for any frame count."""
        img = torch.sigmoid(out) if self.cfg.likelihood == "bernoulli" else out.clamp(0, 1)
        return img.reshape(out.shape[0], -1, *self.clip[1:])
