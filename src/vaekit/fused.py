"""A fused training step for the MLP Gaussian VAE: forward, hand-derived backward and one Adam kernel.

Autograd records ~60 small operations per step and the optimizer walks a list of parameters; for a model
this small that bookkeeping costs as much as the matrix products. This step instead
  * keeps every parameter as a view into one flat buffer, and every gradient in a second flat buffer,
  * writes activations and gradients into buffers allocated once (``out=`` everywhere),
  * derives the backward pass by hand (ReLU MLP encoder -> [mu, logvar] -> reparameterisation -> ReLU MLP
    decoder -> Bernoulli logits or Gaussian mean; beta-weighted KL with optional free bits),
  * updates all parameters with one call of PyTorch's fused Adam kernel on the flat buffer.
It computes exactly what ``vae_loss(...).total.backward(); Adam.step()`` computes (parity-tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .losses import free_bits_kl
from .models import GaussianVAE


def linear_layers(seq: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of a Linear-ReLU-...-Linear Sequential, or None for any other structure."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 != 1:
        return None
    for i, m in enumerate(seq):
        if not isinstance(m, nn.Linear if i % 2 == 0 else nn.ReLU):
            return None
    return [m for m in seq if isinstance(m, nn.Linear)]


def supports(model: nn.Module) -> bool:
    """True when the fused step can train ``model`` (a GaussianVAE with ReLU MLP encoder and decoder)."""
    return (
        isinstance(model, GaussianVAE)
        and linear_layers(model.encoder) is not None
        and linear_layers(model.decoder) is not None
    )


def _mlp_forward(layers: list[nn.Linear], h: Tensor, outs: list[Tensor]) -> Tensor:
    """Linear-ReLU-...-Linear into preallocated ``outs`` (post-ReLU values are kept for the backward pass)."""
    for i, (m, out) in enumerate(zip(layers, outs, strict=True)):
        torch.addmm(m.bias, h, m.weight.t(), out=out)
        if i < len(layers) - 1:
            out.clamp_min_(0.0)
        h = out
    return h


def flatten_parameters(model: nn.Module) -> Tensor:
    """Move all parameters into one contiguous buffer (each parameter becomes a view of it); returns the buffer."""
    params = list(model.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
        offset += n
    return flat


def adam_flat(optimizer: torch.optim.Optimizer, param: Tensor) -> None:
    """One Adam update of the single flat ``param`` of a fused ``torch.optim.Adam``: the fused kernel called
    directly (the optimizer object keeps the state, so checkpoints and resume see an ordinary Adam)."""
    state = optimizer.state[param]
    if not state:  # first step: let torch.optim.Adam create its state
        optimizer.step()
        return
    group = optimizer.param_groups[0]
    beta1, beta2 = group["betas"]
    state["step"].add_(1)
    torch._fused_adam_(
        [param],
        [param.grad],
        [state["exp_avg"]],
        [state["exp_avg_sq"]],
        [],
        [state["step"]],
        amsgrad=False,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


def batch_kl_per_dim(mu: Tensor, logvar: Tensor, var: Tensor, batch_dim: int) -> Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over ``batch_dim`` (few kernels: on a GPU each
    operation is a launch, also inside a CUDA graph)."""
    return torch.addcmul(var - logvar, mu, mu).mean(batch_dim).sub_(1.0).mul_(0.5)


def latent_grads(dz: Tensor, mu: Tensor, z: Tensor, var: Tensor, w: float | Tensor, dmu: Tensor, dlogvar: Tensor):
    """Write dL/dmu and dL/dlogvar into ``dmu`` and ``dlogvar``, given dL/dz and the KL weight per unit of mu:
    ``w`` = beta / n (times the free-bits mask), a number or a tensor broadcastable to mu."""
    if isinstance(w, Tensor):
        torch.addcmul(dz, mu, w, out=dmu)
    else:
        torch.add(dz, mu, alpha=w, out=dmu)
    # d/d(logvar) = 0.5 * (dz * eps * std + w * (var - 1)), with eps * std = z - mu
    torch.addcmul((var - 1.0).mul_(0.5 * w), dz, z - mu, value=0.5, out=dlogvar)


class FusedVAEStep:
    """``step(x, beta) -> [total, recon, kl]``: one optimisation step of the MLP Gaussian VAE, fused."""

    def __init__(
        self,
        model: GaussianVAE,
        lr: float,
        batch_size: int,
        free_bits: float = 0.0,
        grad_hook: Callable[[Tensor], None] | None = None,
    ):
        if not supports(model):
            raise ValueError("the fused step needs a GaussianVAE with ReLU MLP encoder and decoder")
        self.model, self.free_bits, self.grad_hook = model, free_bits, grad_hook
        self.likelihood, self.sigma = model.cfg.likelihood, model.cfg.sigma
        self.enc, self.dec = linear_layers(model.encoder), linear_layers(model.decoder)
        flat = flatten_parameters(model)
        self.param = nn.Parameter(flat)  # shares storage with every model parameter
        self.param.grad = torch.zeros_like(flat)
        self.optimizer = torch.optim.Adam([self.param], lr=lr, fused=True)
        # gradient views, in model.parameters() order: (weight, bias) per Linear
        grads, offset = {}, 0
        for p in model.parameters():
            grads[id(p)] = self.param.grad[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        self.g = {id(m): (grads[id(m.weight)], grads[id(m.bias)]) for m in self.enc + self.dec}
        # activation buffers for a full batch; a short last batch uses the leading rows
        dev, b, d = flat.device, batch_size, model.latent_dim
        self.enc_out = [torch.empty(b, m.out_features, device=dev) for m in self.enc]
        self.dec_out = [torch.empty(b, m.out_features, device=dev) for m in self.dec]
        self.enc_grad = [torch.empty(b, m.out_features, device=dev) for m in self.enc]
        self.dec_grad = [torch.empty(b, m.out_features, device=dev) for m in self.dec]
        self.z = torch.empty(b, d, device=dev)
        self.std = torch.empty(b, d, device=dev)
        self.log_norm = 0.0 if self.likelihood == "bernoulli" else math.log(self.sigma) + 0.5 * math.log(2 * math.pi)

    @torch.no_grad()
    def __call__(self, x: Tensor, beta: float | Tensor, eps: Tensor) -> Tensor:
        """One step on x (n, P) with reparameterisation noise eps (n, D); returns [total, recon, kl].

        ``beta`` may be a 0-dim tensor on the model's device (CUDA-graph replay reads it from there).
        """
        n = x.shape[0]
        d = self.model.latent_dim
        enc_out = [t[:n] for t in self.enc_out]
        dec_out = [t[:n] for t in self.dec_out]
        enc_grad = [t[:n] for t in self.enc_grad]
        dec_grad = [t[:n] for t in self.dec_grad]
        z, std = self.z[:n], self.std[:n]

        # ---- forward
        h = _mlp_forward(self.enc, x, enc_out)  # (n, 2D)
        mu, logvar = h[:, :d], h[:, d:]  # (n, D) each
        torch.exp(logvar.mul(0.5), out=std)
        torch.addcmul(mu, std, eps, out=z)
        logits = _mlp_forward(self.dec, z, dec_out)  # (n, P)

        # ---- loss terms (for logging and the divergence check)
        var = std * std
        kl_per_dim = batch_kl_per_dim(mu, logvar, var, 0)  # (D,)
        kl = kl_per_dim.sum()
        if self.likelihood == "bernoulli":  # BCE with logits = softplus(l) - x * l, summed
            recon = (F.softplus(logits).sum() - torch.dot(x.reshape(-1), logits.reshape(-1))) / n
        else:
            recon = F.mse_loss(logits, x, reduction="sum") / (2 * self.sigma**2 * n) + self.log_norm * x.shape[1]
        kl_term = free_bits_kl(kl_per_dim, self.free_bits)
        # (D,) the clamp passes gradient only above the floor
        mask = (kl_per_dim >= self.free_bits).to(mu.dtype) if self.free_bits > 0 else None
        total = recon + beta * kl_term

        # ---- backward
        dh = dec_grad[-1]
        if self.likelihood == "bernoulli":
            torch.sigmoid(logits, out=dh)
            dh.sub_(x).div_(n)
        else:
            torch.sub(logits, x, out=dh).div_(self.sigma**2 * n)
        dz = self._mlp_backward(self.dec, z, dec_out, dec_grad, dh, input_grad=True)  # (n, D)
        dout = enc_grad[-1]
        dmu, dlogvar = dout[:, :d], dout[:, d:]
        latent_grads(dz, mu, z, var, beta / n if mask is None else mask * (beta / n), dmu, dlogvar)
        self._mlp_backward(self.enc, x, enc_out, enc_grad, dout, input_grad=False)

        if self.grad_hook is not None:
            self.grad_hook(self.param.grad)  # e.g. the all-reduce of data-parallel training: one bucket
        adam_flat(self.optimizer, self.param)
        return torch.stack([total, recon, kl])

    def _mlp_backward(
        self,
        layers: list[nn.Linear],
        inp: Tensor,
        outs: list[Tensor],
        grads: list[Tensor],
        dh: Tensor,
        input_grad: bool,
    ) -> Tensor | None:
        """Backward through Linear-ReLU-...-Linear given dL/d(last output) ``dh``; fills the weight gradients.

        ``outs[i]`` is layer i's (post-ReLU) output and ``grads[i]`` a buffer of its shape. Returns dL/d(inp)
        when ``input_grad``.
        """
        for i in range(len(layers) - 1, -1, -1):
            m = layers[i]
            gw, gb = self.g[id(m)]
            torch.mm(dh.t(), outs[i - 1] if i > 0 else inp, out=gw)
            torch.sum(dh, 0, out=gb)
            if i > 0:
                prev = grads[i - 1]
                torch.mm(dh, m.weight, out=prev)
                torch.ops.aten.threshold_backward(prev, outs[i - 1], 0.0, grad_input=prev)  # through the ReLU
                dh = prev
        return torch.mm(dh, layers[0].weight) if input_grad else None
