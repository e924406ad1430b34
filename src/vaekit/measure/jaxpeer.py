"""The classic MLP VAE trained in JAX, written as JAX is meant to be used: the peer that `vaekit bench` measures
the engine against (``pip install -e '.[peers]'``).

The same model (784-400-20, ReLU, Bernoulli logits), batch (128), loss (negative ELBO: summed BCE + KL, mean
over the batch) and optimizer (Adam 1e-3, optax) as the engine's fp32 variant. The idiom: the whole epoch is
one jit-compiled ``lax.scan`` over the batches (one dispatch per epoch, parameters and Adam state donated so
XLA updates them in place), the data resident on the device, the noise drawn from a split PRNG key inside the
scan; the short last batch is one more jitted step.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def available() -> bool:
    """True when jax and optax import."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        return False
    return True


def neg_elbo(params, x, eps):
    """The negative ELBO of a batch, mean over images: summed Bernoulli NLL of the logits + KL to N(0, I).

    ``params``: [(W (in, out), b (out,))] for encoder layers 784-400-2D and decoder layers D-400-784.
    """
    import jax
    import jax.numpy as jnp

    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
    h = jax.nn.relu(x @ w1 + b1)
    mu, logvar = jnp.split(h @ w2 + b2, 2, axis=-1)
    z = mu + jnp.exp(0.5 * logvar) * eps
    logits = jax.nn.relu(z @ w3 + b3) @ w4 + b4
    recon = jnp.sum(jax.nn.softplus(logits) - x * logits)
    kl = 0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar)
    return (recon + kl) / x.shape[0]


class JaxVAE:
    """``run_epoch()`` trains one shuffled pass over ``x_train`` (N, P) float32 in [0, 1]."""

    def __init__(self, x_train: np.ndarray, hidden: int = 400, latent: int = 20, batch_size: int = 128,
                 lr: float = 1e-3, seed: int = 0):  # fmt: skip
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.batch_size, self.latent = jax, batch_size, latent
        pixels = x_train.shape[1]
        key = jax.random.PRNGKey(seed)
        sizes = [(pixels, hidden), (hidden, 2 * latent), (latent, hidden), (hidden, pixels)]
        keys = jax.random.split(key, len(sizes) + 1)
        self.key = keys[-1]
        # torch.nn.Linear's initialisation: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases
        self.params = [
            (
                jax.random.uniform(k, (i, o), minval=-1 / math.sqrt(i), maxval=1 / math.sqrt(i)),
                jax.random.uniform(jax.random.fold_in(k, 1), (o,), minval=-1 / math.sqrt(i), maxval=1 / math.sqrt(i)),
            )
            for k, (i, o) in zip(keys, sizes, strict=False)
        ]
        opt = optax.adam(lr)
        self.opt_state = opt.init(self.params)
        self.x = jnp.asarray(x_train, dtype=jnp.float32)  # (N, P), resident
        n = x_train.shape[0]
        self.full, self.rest = n // batch_size, n % batch_size

        loss_fn = neg_elbo

        def step(carry, xb):
            params, opt_state, key = carry
            key, k = jax.random.split(key)
            eps = jax.random.normal(k, (xb.shape[0], latent))
            loss, grads = jax.value_and_grad(loss_fn)(params, xb, eps)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, key), loss

        def epoch(params, opt_state, key, x):
            key, kperm = jax.random.split(key)
            perm = jax.random.permutation(kperm, x.shape[0])
            idx = perm[: self.full * batch_size].reshape(self.full, batch_size)
            (params, opt_state, key), losses = jax.lax.scan(lambda c, i: step(c, x[i]), (params, opt_state, key), idx)
            return params, opt_state, key, perm[self.full * batch_size :], losses

        def last(params, opt_state, key, x, rest_idx):
            (params, opt_state, key), loss = step((params, opt_state, key), x[rest_idx])
            return params, opt_state, key, loss

        def chunk(params, opt_state, key, x, idx):  # idx (steps, B): a run of an epoch's batches
            (params, opt_state, key), losses = jax.lax.scan(lambda c, i: step(c, x[i]), (params, opt_state, key), idx)
            return params, opt_state, key, losses

        def permute(key):
            key, kperm = jax.random.split(key)
            return key, jax.random.permutation(kperm, n)

        self._epoch = jax.jit(epoch, donate_argnums=(0, 1))
        self._last = jax.jit(last, donate_argnums=(0, 1))
        self._chunk = jax.jit(chunk, donate_argnums=(0, 1))
        self._permute = jax.jit(permute)
        self.steps = 0

    def run_epoch(self) -> float:
        """One epoch; returns its mean training loss (which waits for the computation to finish)."""
        self.params, self.opt_state, self.key, rest_idx, losses = self._epoch(
            self.params, self.opt_state, self.key, self.x
        )
        total = losses.sum() * self.batch_size
        if self.rest:
            self.params, self.opt_state, self.key, loss = self._last(
                self.params, self.opt_state, self.key, self.x, rest_idx
            )
            total = total + loss * self.rest
        self.steps += self.full + (1 if self.rest else 0)
        return float(total) / self.x.shape[0]

    def epoch_in_chunks(self, every: int):
        """One epoch as jitted scans of up to ``every`` steps (then the short last batch). Yields the step count
        every ``every`` steps of the epoch and at its end, as the engine's epoch calls its log hook, once the
        computation has finished (`vaekit bench --to-loss` evaluates there)."""
        jax, b = self.jax, self.batch_size
        self.key, perm = self._permute(self.key)
        idx = perm[: self.full * b].reshape(self.full, b)
        done = told = 0  # steps of this epoch, and the step last yielded
        for start in range(0, self.full, every):
            part = idx[start : start + every]
            self.params, self.opt_state, self.key, _ = self._chunk(self.params, self.opt_state, self.key, self.x, part)
            done += part.shape[0]
            self.steps += part.shape[0]
            if done % every == 0:
                jax.block_until_ready(self.params)
                yield self.steps
                told = done
        if self.rest:
            self.params, self.opt_state, self.key, _ = self._last(
                self.params, self.opt_state, self.key, self.x, perm[self.full * b :]
            )
            done += 1
            self.steps += 1
        if told != done:
            jax.block_until_ready(self.params)
            yield self.steps

    def compile_chunks(self, every: int) -> None:
        """Compile what ``epoch_in_chunks(every)`` calls, on copies of the state (the training state is left as
        it is), so that no compilation falls into a timed region."""
        jax, b = self.jax, self.batch_size
        fresh = lambda: jax.tree_util.tree_map(lambda a: a.copy(), (self.params, self.opt_state))  # noqa: E731
        key, perm = self._permute(self.key)
        idx = perm[: self.full * b].reshape(self.full, b)
        for length in {min(every, self.full), self.full % every} - {0}:
            jax.block_until_ready(self._chunk(*fresh(), key, self.x, idx[:length]))
        if self.rest:
            jax.block_until_ready(self._last(*fresh(), key, self.x, perm[self.full * b :]))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in the GaussianVAE's layout (Linear weights are (out, in)), for vaekit's evaluator."""
        names = ["encoder.0", "encoder.2", "decoder.0", "decoder.2"]
        out = {}
        for name, (w, b) in zip(names, self.params, strict=True):
            out[f"{name}.weight"] = torch.from_numpy(np.array(w).T.copy())
            out[f"{name}.bias"] = torch.from_numpy(np.array(b))
        return out
