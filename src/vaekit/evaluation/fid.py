"""The Fréchet distance between two sets of features (Heusel et al. 2017, arXiv 1706.08500):

    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)

with the means and covariances of each set's features. vaekit computes it in the feature space of a small
per-dataset classifier (``models/classifier.py``), not Inception-v3's: numbers are comparable between vaekit
models on one dataset, not with the FIDs of papers. The matrix square root comes from symmetric eigen-
decompositions in float64, which stays real and stable for the positive semi-definite matrices involved.
"""

from __future__ import annotations

import numpy as np
import torch


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) features -> mean (F,) and covariance (F, F) (unbiased), float64."""
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """The Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b)."""
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def fid(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets (N_a, F) and (N_b, F)."""
    return frechet_distance(*feature_stats(features_a), *feature_stats(features_b))
