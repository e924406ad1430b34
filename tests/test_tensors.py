"""Training images in memory and batches drawn from them: 8-bit storage, exact dynamic binarization."""

import numpy as np
import torch

import vaekit.data.tensors as tensors


def test_dynamic_binarization_of_8_bit_pixels_draws_k_over_255():
    """Every 8-bit value k becomes 1 with probability k / 255 (to within 2^-17): 200,000 draws per value,
    means within 5 standard errors; k = 0 never; the generator decides (same seed, same pixels)."""
    levels = np.arange(256, dtype=np.uint8)
    x = np.tile(levels, (2000, 1))  # (2000, 256): every value in every row
    kept = tensors.training_pixels(x, "dynamic", torch.device("cpu"))
    assert kept.dtype == torch.int16
    idx = torch.arange(2000)
    draws = torch.stack(
        [tensors.batch_pixels(kept, idx, "dynamic", torch.Generator().manual_seed(s)) for s in range(100)]
    )
    mean = draws.mean((0, 1)).double()  # (256,)
    p = torch.from_numpy(levels).double() / 255
    se = (p * (1 - p) / 200_000).sqrt().clamp_min(1e-6)
    assert ((mean - p).abs() <= 5 * se + 2**-17).all()
    assert mean[0] == 0 and set(draws.unique().tolist()) == {0.0, 1.0}
    again = tensors.batch_pixels(kept, idx, "dynamic", torch.Generator().manual_seed(7))
    assert torch.equal(again, tensors.batch_pixels(kept, idx, "dynamic", torch.Generator().manual_seed(7)))


def test_8_bit_batches_are_the_float_pixels_of_to_tensor():
    x = np.random.default_rng(0).integers(0, 256, size=(50, 8, 8), dtype=np.uint8)
    kept = tensors.training_pixels(x, "none", torch.device("cpu"))
    assert kept.dtype == torch.uint8  # a quarter of float32's memory
    idx = torch.tensor([3, 0, 49, 3])
    got = tensors.batch_pixels(kept, idx, "none", torch.Generator())
    assert torch.equal(got, tensors.to_tensor(x, torch.device("cpu"))[idx])
