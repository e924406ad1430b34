"""The fused training step of the MLP Gaussian VAE: forward, hand-derived backward and one Adam kernel,
for K >= 1 models of one architecture at once (a single run is K = 1, a sweep is K > 1).

Autograd records ~60 small operations per step and the optimizer walks a list of parameters; for a model
this small that bookkeeping costs as much as the matrix products. This step instead
  * keeps the parameters of all K models in one flat fp32 buffer (per layer: W (K, out, in), then
    b (K, out)), every model parameter being a view of it, and the gradients in a second flat buffer,
  * writes activations and gradients into buffers allocated once (``out=`` everywhere),
  * derives the backward pass by hand (ReLU or tanh MLP encoder -> [mu, logvar] -> reparameterisation -> MLP
    decoder -> Bernoulli logits or Gaussian mean; beta-weighted KL with optional free bits),
  * runs every matrix product as one batched product over the K models,
  * updates all parameters with one call of PyTorch's fused Adam kernel on the flat buffer (Adam is
    element-wise, so this is K independent Adams).
It computes what ``vae_loss(...).total.backward(); Adam.step()`` computes for each model (parity-tested), or
with ``iwae_k = S`` what ``iwae_loss(...)`` does. The IWAE gradient, written out: with
log w_s = log p(x|z_s) + log N(z_s; 0, I) - log N(z_s; mu, sigma^2), z_s = mu + sigma * eps_s and the
normalised weights a_s = softmax_s(log w_s), the loss -log mean_s w_s has
    dL/dz_s = a_s * (d(-log p(x|z_s))/dz_s + z_s),
    dL/dmu = sum_s dL/dz_s,   dL/dlogvar = 0.5 * sum_s dL/dz_s * (z_s - mu) - 0.5
(the decoder runs once on all S * n rows, each row's output gradient scaled by its a_s).

Precision ``bf16``: the matrix products take bf16 operands (a bf16 copy of the weights, refreshed by one
cast after every Adam update) and accumulate in fp32, as autocast does; the master weights, Adam and its
moments, the latent math (mu, logvar, z, KL, free bits) and the loss stay in fp32. Activations and their
gradients between products are bf16; the weight gradients are rounded to bf16 and cast into the fp32
gradient buffer with one cast per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..losses import free_bits_kl, recon_nll
from ..models import GaussianVAE
from ..models.nets import FixedSigma

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


ACTIVATIONS: dict[type[nn.Module], str] = {nn.ReLU: "relu", nn.Tanh: "tanh"}


def linear_layers(seq: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of a Linear-act-...-Linear Sequential (one activation, ReLU or tanh, throughout), or
    None for any other structure."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 != 1:
        return None
    acts = {type(m) for m in list(seq)[1::2]}
    if len(acts) > 1 or not acts <= set(ACTIVATIONS) or not all(isinstance(m, nn.Linear) for m in list(seq)[::2]):
        return None
    return [m for m in seq if isinstance(m, nn.Linear)]


def _activation(seq: nn.Module) -> str | None:
    """relu or tanh: the activation of a ``linear_layers`` Sequential (None for a single Linear)."""
    return ACTIVATIONS[type(seq[1])] if isinstance(seq, nn.Sequential) and len(seq) > 1 else None


def _linear(seq: nn.Module) -> list[nn.Linear]:
    layers = linear_layers(seq)
    if layers is None:
        raise ConfigError("the fused step trains Linear-act-...-Linear encoders and decoders; use --step autograd")
    return layers


def _encoder_net(model: GaussianVAE) -> nn.Module:
    """The network whose last layer is the posterior head: [mu, logvar], or mu alone under a fixed sigma."""
    return model.encoder.mu_net if isinstance(model.encoder, FixedSigma) else model.encoder


def supports(model: nn.Module, objective: str = "elbo") -> bool:
    """True when the fused step can train ``model`` on ``objective`` (the beta-ELBO or the IWAE bound): a
    GaussianVAE with an MLP encoder and decoder (ReLU or tanh, the same in both), a joint [mu, logvar] head or
    a fixed posterior sigma, and no dvae path B."""
    if objective not in ("elbo", "iwae") or not isinstance(model, GaussianVAE) or model.encoder_masked is not None:
        return False
    enc = _encoder_net(model)
    if linear_layers(enc) is None or linear_layers(model.decoder) is None:
        return False
    acts = {_activation(enc), _activation(model.decoder)} - {None}
    return len(acts) <= 1


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
    assert param.grad is not None  # the fused step writes it before every update
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


def latent_grads(
    dz: Tensor, mu: Tensor, z: Tensor, var: Tensor, w: float | Tensor, dmu: Tensor, dlogvar: Tensor | None
) -> None:
    """Write dL/dmu and dL/dlogvar into ``dmu`` and ``dlogvar`` (None: a fixed sigma, no logvar to learn), given
    dL/dz and the KL weight per unit of mu: ``w`` = beta / n (times the free-bits mask), a number or a tensor
    broadcastable to mu."""
    if isinstance(w, Tensor):
        torch.addcmul(dz, mu, w, out=dmu)
    else:
        torch.add(dz, mu, alpha=w, out=dmu)
    if dlogvar is None:
        return
    # d/d(logvar) = 0.5 * (dz * eps * std + w * (var - 1)), with eps * std = z - mu
    torch.addcmul((var - 1.0).mul_(0.5 * w), dz, z - mu, value=0.5, out=dlogvar)


def iwae_latent_grads(dz: Tensor, mu: Tensor, z: Tensor, a: Tensor, dmu: Tensor, dlogvar: Tensor | None) -> None:
    """The IWAE bound's dL/dmu and dL/dlogvar (K, n, D) into ``dmu`` and ``dlogvar`` (None: a fixed sigma),
    given dz (K, S, n, D), the decoder's gradient of sum_s a_s * -log p(x|z_s) (consumed), z (K, S, n, D) and
    a (K, S, n, 1)."""
    dz.addcmul_(z, a)  # + a_s * d(-log N(z_s; 0, I))/dz_s
    torch.sum(dz, 1, out=dmu)
    if dlogvar is None:
        return
    torch.sum(dz.mul_(z - mu.unsqueeze(1)), 1, out=dlogvar)  # dz_s * eps_s * sigma
    dlogvar.mul_(0.5).sub_(0.5 / mu.shape[1])  # - 0.5 * sum_s a_s, the a_s summing to 1 / n


class FusedStep:
    """``step(x, betas, eps) -> (K, 3)`` [total, recon, kl] per model: one fused step of K MLP VAEs.

    x (K, n, P), eps (K, n, D), betas a number, a 0-dim tensor or (K,); n <= ``batch_size`` (a short last
    batch uses the leading rows of every buffer). With ``iwae_k = S`` the models train on the IWAE bound:
    eps (K, n, S * D) (image i's S noise vectors side by side, as the engine draws them), betas ignored (the
    bound has no beta); recon is the mean over samples of -log p(x|z_s), kl the closed-form KL (both logged
    only). After construction every model's parameters are views into the flat buffer ``param``, so each
    model stays an ordinary ``GaussianVAE`` for evaluation and checkpoints.
    """

    def __init__(
        self,
        models: list[GaussianVAE],
        lr: float,
        batch_size: int,
        free_bits: float = 0.0,
        precision: str = "fp32",
        grad_hook: Callable[[Tensor], None] | None = None,
        adam_eps: float = 1e-8,
        iwae_k: int | None = None,
    ):
        if not models or not all(supports(m) for m in models):
            raise ConfigError("the fused step trains MLP Gaussian VAEs with a shared encoder and a learned posterior")
        if iwae_k is not None and (iwae_k < 1 or free_bits > 0):
            raise ConfigError("the iwae objective needs K >= 1 samples and no free bits")
        if precision not in DTYPES:
            raise ConfigError(f"the fused step computes in fp32 or bf16, not {precision!r}")
        per_model = [_linear(_encoder_net(m)) + _linear(m.decoder) for m in models]
        fixed = {m.encoder.logvar if isinstance(m.encoder, FixedSigma) else None for m in models}
        if len(fixed) > 1:
            raise ConfigError("all models of a sweep need the same posterior (learned, or one fixed sigma)")
        self.fixed_logvar = fixed.pop()  # 2 log sigma of a fixed posterior, or None
        shapes = [tuple(m.weight.shape) for m in per_model[0]]
        if any([tuple(m.weight.shape) for m in layers] != shapes for layers in per_model):
            raise ConfigError("all models of a sweep need the same architecture")
        k, self.n_enc = len(models), len(_linear(_encoder_net(models[0])))
        self.tanh = "tanh" in {_activation(_encoder_net(models[0])), _activation(models[0].decoder)}
        self.models, self.free_bits, self.grad_hook, self.precision = models, free_bits, grad_hook, precision
        cfg = models[0].cfg
        self.likelihood, self.sigma, self.latent_dim = cfg.likelihood, cfg.sigma, cfg.latent_dim
        self.log_norm = 0.0 if self.likelihood == "bernoulli" else math.log(self.sigma) + 0.5 * math.log(2 * math.pi)
        dev = per_model[0][0].weight.device
        total = sum(k * (o * i + o) for o, i in shapes)
        flat = torch.empty(total, device=dev)
        grad = torch.zeros_like(flat)
        self.slices: list[tuple[slice, slice]] = []  # per layer: where W (K, o, i) and b (K, o) live in the buffer
        offset = 0
        for j, (o, i) in enumerate(shapes):
            w_sl, b_sl = slice(offset, offset + k * o * i), slice(offset + k * o * i, offset + k * (o * i + o))
            offset = b_sl.stop
            self.slices.append((w_sl, b_sl))
            W, b = flat[w_sl].view(k, o, i), flat[b_sl].view(k, o)
            for m, layers in enumerate(per_model):
                W[m].copy_(layers[j].weight.detach())
                b[m].copy_(layers[j].bias.detach())
                layers[j].weight.data, layers[j].bias.data = W[m], b[m]
        self.shapes = shapes
        self._names = [{id(p): n for n, p in m.named_parameters()} for m in models]
        self._layers = per_model
        self.param = nn.Parameter(flat)
        self.param.grad = self.flat_grad = grad
        self.optimizer = torch.optim.Adam([self.param], lr=lr, eps=adam_eps, fused=True)

        # the operands of the products: the fp32 buffers themselves, or a bf16 mirror of them
        dt = DTYPES[precision]
        self._bf16 = dt != torch.float32
        self.cflat = torch.empty(total, device=dev, dtype=dt) if self._bf16 else flat
        self.cgrad = torch.zeros(total, device=dev, dtype=dt) if self._bf16 else grad
        self.sync_operands()
        self.W = [self.cflat[w].view(k, o, i) for (w, _), (o, i) in zip(self.slices, shapes, strict=True)]
        self.b = [self.cflat[b].view(k, o) for (_, b), (o, _) in zip(self.slices, shapes, strict=True)]
        self.gW = [self.cgrad[w].view(k, o, i) for (w, _), (o, i) in zip(self.slices, shapes, strict=True)]
        self.gb = [self.cgrad[b].view(k, o) for (_, b), (o, _) in zip(self.slices, shapes, strict=True)]
        # activation buffers for a full batch, per layer; the decoder's hold S rows per image (S = 1: the ELBO)
        self.iwae_k = iwae_k
        d, p, bs = self.latent_dim, shapes[0][1], batch_size
        sb = (iwae_k or 1) * bs  # decoder rows
        rows = [bs if j < self.n_enc else sb for j in range(len(shapes))]
        self.out = [torch.empty(k, r, o, device=dev, dtype=dt) for r, (o, _) in zip(rows, shapes, strict=True)]
        self.grad = [torch.empty(k, r, o, device=dev, dtype=dt) for r, (o, _) in zip(rows, shapes, strict=True)]
        self.z = torch.empty(k, sb, d, device=dev)  # rows sample-major: row s * n + i is image i's sample s
        self.std = torch.empty(k, bs, d, device=dev)
        if self._bf16:  # fp32 ends of the bf16 products
            self.x_c = torch.empty(k, bs, p, device=dev, dtype=dt)  # the batch as a product operand
            self.z_c = torch.empty(k, sb, d, device=dev, dtype=dt)
            self.head = torch.empty(k, bs, shapes[self.n_enc - 1][0], device=dev)  # [mu, logvar], or mu
            self.logits = torch.empty(k, sb, shapes[-1][0], device=dev)
            self.dlogits = torch.empty(k, sb, shapes[-1][0], device=dev)
            self.dhead = torch.empty(k, bs, shapes[self.n_enc - 1][0], device=dev)

    def parameter_views(self, buffer: Tensor, k: int = 0) -> dict[str, Tensor]:
        """Views of a flat-layout ``buffer`` (the parameters, or an Adam moment) shaped as model k's parameters,
        by parameter name."""
        kk = len(self.models)
        views = {}
        for (w_sl, b_sl), (o, i), layer in zip(self.slices, self.shapes, self._layers[k], strict=True):
            views[self._names[k][id(layer.weight)]] = buffer[w_sl].view(kk, o, i)[k]
            views[self._names[k][id(layer.bias)]] = buffer[b_sl].view(kk, o)[k]
        return views

    def _forward(self, layers: range, h: Tensor, n: int) -> Tensor:
        for j in layers:
            out = self.out[j][:, :n]
            torch.baddbmm(self.b[j].unsqueeze(1), h, self.W[j].transpose(1, 2), out=out)
            if j != layers[-1] and self.tanh:
                out.tanh_()
            elif j != layers[-1]:
                out.clamp_min_(0.0)
            h = out
        return h

    def _backward(self, layers: range, inp: Tensor, dh: Tensor, n: int, input_grad: bool) -> Tensor | None:
        for j in reversed(layers):
            prev = self.out[j - 1][:, :n] if j != layers[0] else inp
            torch.bmm(dh.transpose(1, 2), prev, out=self.gW[j])
            torch.sum(dh, 1, out=self.gb[j])
            if j != layers[0]:
                g = self.grad[j - 1][:, :n]
                torch.bmm(dh, self.W[j], out=g)
                if self.tanh:  # through tanh: g * (1 - tanh^2)
                    g.mul_(torch.addcmul(torch.ones_like(prev), prev, prev, value=-1.0))
                else:
                    torch.ops.aten.threshold_backward(g, prev, 0.0, grad_input=g)  # through the ReLU
                dh = g
        return torch.bmm(dh, self.W[layers[0]]) if input_grad else None

    @torch.no_grad()
    def __call__(self, x: Tensor, betas: float | Tensor, eps: Tensor) -> Tensor:
        k, n, d = x.shape[0], x.shape[1], self.latent_dim
        s = self.iwae_k or 1
        m = s * n  # decoder rows
        enc, dec = range(self.n_enc), range(self.n_enc, len(self.W))
        z, std = self.z[:, :m], self.std[:, :n]
        bf16 = self._bf16

        # ---- forward
        x_c = self.x_c[:, :n].copy_(x) if bf16 else x  # (K, n, P) product operand
        h = self._forward(enc, x_c, n)  # (K, n, 2D): [mu, logvar], or (K, n, D): mu under a fixed sigma
        if bf16:
            h = self.head[:, :n].copy_(h)
        if self.fixed_logvar is None:
            mu, logvar = h[..., :d], h[..., d:]  # (K, n, D) each
            torch.exp(logvar.mul(0.5), out=std)
        else:  # the head is mu alone
            mu, logvar = h, torch.full_like(std[:1, :1], self.fixed_logvar)  # (K, n, D), (1, 1, D)
            std = logvar.mul(0.5).exp_()
        if self.iwae_k:  # rows of z sample-major: (K, S, n, D)
            e, z4 = eps.reshape(k, n, s, d).transpose(1, 2), z.view(k, s, n, d)
            torch.addcmul(mu.unsqueeze(1), std.unsqueeze(1), e, out=z4)
        else:
            torch.addcmul(mu, std, eps, out=z)
        z_c = self.z_c[:, :m].copy_(z) if bf16 else z
        logits = self._forward(dec, z_c, m)  # (K, S*n, P)
        if bf16:
            logits = self.logits[:, :m].copy_(logits)

        # ---- loss terms, fp32 (for logging and the divergence check; the iwae weights need them)
        var = std * std
        kl_per_dim = batch_kl_per_dim(mu, logvar, var, 1)  # (K, D)
        kl = kl_per_dim.sum(1)  # (K,)
        if self.iwae_k:
            a, total, recon = self._iwae_terms(x, logits.view(k, s, n, -1), e, z4, logvar)
        else:
            recon = self._recon(x, logits, n)
            beta = betas.reshape(-1, 1) if isinstance(betas, Tensor) and betas.dim() == 1 else betas  # (K,1) or ()
            total = recon + (beta.reshape(-1) if isinstance(beta, Tensor) else beta) * free_bits_kl(
                kl_per_dim, self.free_bits
            )
            w = beta / n  # KL weight per unit of mu
            if self.free_bits > 0:  # the clamp passes gradient only above the floor
                w = (kl_per_dim >= self.free_bits).to(mu.dtype) * w  # (K, D)
            if isinstance(w, Tensor) and w.dim() == 2:
                w = w.unsqueeze(1)  # (K, 1, D) or (K, 1, 1)

        # ---- backward
        dh = self.dlogits[:, :m] if bf16 else self.grad[-1][:, :m]  # dL/dlogits (K, S*n, P)
        scale = 1.0 if self.likelihood == "bernoulli" else self.sigma**2
        if self.iwae_k:  # each sample's row by its normalised importance weight (/ n)
            dh4, l4, x4 = dh.view(k, s, n, -1), logits.view(k, s, n, -1), x.unsqueeze(1)
            if self.likelihood == "bernoulli":
                torch.sigmoid(l4, out=dh4).sub_(x4)
            else:
                torch.sub(l4, x4, out=dh4)
            dh4.mul_(a if scale == 1.0 else a / scale)
        elif self.likelihood == "bernoulli":
            torch.sigmoid(logits, out=dh).sub_(x).div_(n)
        else:
            torch.sub(logits, x, out=dh).div_(scale * n)
        if bf16:
            dh = self.grad[-1][:, :m].copy_(dh)
        dz = self._backward(dec, z_c, dh, m, input_grad=True)  # (K, S*n, D)
        assert dz is not None
        dz = dz.float() if bf16 else dz
        dout = self.dhead[:, :n] if bf16 else self.grad[self.n_enc - 1][:, :n]
        dlogvar = dout[..., d:] if self.fixed_logvar is None else None
        if self.iwae_k:
            iwae_latent_grads(dz.view(k, s, n, d), mu, z4, a, dout[..., :d], dlogvar)
        else:
            latent_grads(dz, mu, z, var, w, dout[..., :d], dlogvar)
        if bf16:
            dout = self.grad[self.n_enc - 1][:, :n].copy_(dout)
        self._backward(enc, x_c, dout, n, input_grad=False)

        if bf16:
            self.flat_grad.copy_(self.cgrad)  # the weight gradients, rounded to bf16, into fp32
        if self.grad_hook is not None:
            self.grad_hook(self.flat_grad)  # e.g. the all-reduce of data-parallel training: one bucket
        adam_flat(self.optimizer, self.param)
        self.sync_operands()  # the next step's operands
        return torch.stack([total, recon, kl], 1)

    def _recon(self, x: Tensor, logits: Tensor, n: int) -> Tensor:
        """-log p(x|z) per model, mean over the n images: x and logits (K, n, P) -> (K,)."""
        k = x.shape[0]
        if self.likelihood == "bernoulli":  # BCE with logits = softplus(l) - x * l, summed per model
            xl = torch.bmm(x.reshape(k, 1, -1), logits.reshape(k, -1, 1)).reshape(k)
            return (F.softplus(logits).sum((1, 2)) - xl) / n
        recon = F.mse_loss(logits, x, reduction="none").sum((1, 2)) / (2 * self.sigma**2 * n)
        return recon + self.log_norm * x.shape[2]

    def _iwae_terms(self, x: Tensor, l4: Tensor, e: Tensor, z4: Tensor, logvar: Tensor):
        """The IWAE bound from logits (K, S, n, P), noise and z (K, S, n, D): the normalised weights divided by
        n, a (K, S, n, 1) = dL/d(-log w), and the loss and mean reconstruction term per model, (K,) each."""
        s, n = l4.shape[1], l4.shape[2]
        r = recon_nll(l4, x.unsqueeze(1).expand_as(l4), self.likelihood, self.sigma)  # -log p(x|z_s) (K, S, n)
        # log w = log p(x|z) + log N(z; 0, I) - log N(z; mu, sigma^2); the 2 pi terms cancel
        log_w = (e.square().sum(-1) - z4.square().sum(-1) + logvar.sum(-1).unsqueeze(1)).mul_(0.5).sub_(r)
        total = math.log(s) - torch.logsumexp(log_w, 1).mean(1)
        return torch.softmax(log_w, 1).div_(n).unsqueeze(-1), total, r.mean((1, 2))

    @torch.no_grad()
    def sync_operands(self) -> None:
        """Refresh the bf16 mirror of the weights after they changed (nothing to do in fp32, where the
        products read the weights themselves): after every update, and after a checkpoint is loaded."""
        if self._bf16:
            self.cflat.copy_(self.param)


class FusedVAEStep(FusedStep):
    """``step(x, beta, eps) -> [total, recon, kl]``: the fused step of one model (K = 1).

    x (n, P), eps (n, D) or (n, S * D) with ``iwae_k = S``; ``beta`` a number or a 0-dim tensor on the model's
    device (CUDA-graph replay reads it from there). The flat buffer holds the parameters in
    ``model.parameters()`` order.
    """

    def __init__(self, model: GaussianVAE, *args: Any, **kwargs: Any):
        """``model``, then ``FusedStep``'s own arguments (lr, batch_size, free_bits, precision, ...)."""
        super().__init__([model], *args, **kwargs)
        self.model = model

    def __call__(self, x: Tensor, beta: float | Tensor, eps: Tensor) -> Tensor:
        return super().__call__(x.unsqueeze(0), beta, eps.unsqueeze(0))[0]
