"""The reference classifier of a dataset: a small CNN whose penultimate layer is the feature space of vaekit's
sample-quality number (``evaluation/fid.py``), in the role Inception-v3 plays for the FID of the literature.

(B, P) channel-last pixels in [0, 1] -> two 3x3 conv + ReLU + 2x2 max-pool stages (32, 64 channels) -> an
adaptive average pool to 7x7 (any image size; 28x28 images are already there) -> dropout -> 128 features
(ReLU) -> class logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

FEATURES = 128  # width of the feature layer


@dataclass
class ClassifierConfig:
    input_shape: tuple[int, ...] = (28, 28)  # (H, W) or (H, W, C), as the data
    classes: int = 10  # number of labels


class ReferenceClassifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        h, w, *c = cfg.input_shape
        self.hwc = (h, w, c[0] if c else 1)
        self.trunk = nn.Sequential(
            nn.Conv2d(self.hwc[2], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * 49, FEATURES), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, cfg.classes)

    def features(self, x: Tensor) -> Tensor:
        """(B, P) pixels -> (B, FEATURES)."""
        return self.trunk(x.reshape(x.shape[0], *self.hwc).permute(0, 3, 1, 2))

    def forward(self, x: Tensor) -> Tensor:
        """(B, P) pixels -> (B, classes) logits."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 1000) -> tuple[Tensor, Tensor]:
        """Features (N, FEATURES) and predicted labels (N,) of ``x``, in batches, in eval mode."""
        self.eval()
        feats = torch.empty(len(x), FEATURES, device=x.device)
        for i in range(0, len(x), batch):
            feats[i : i + batch] = self.features(x[i : i + batch])
        return feats, self.head(feats).argmax(1)
