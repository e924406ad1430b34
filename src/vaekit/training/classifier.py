"""The reference classifier of a dataset (``models/classifier.py``), trained once and cached.

``reference_classifier(ds)`` returns the classifier and its test accuracy: from the cache
(``CACHE/reference/NAME-FINGERPRINT.safetensors``, the fingerprint a sha256 of the dataset's arrays, so a
changed dataset never reuses a stale classifier), else trained here (Adam 1e-3, batch 128, 5 epochs, seed 0)
and written atomically.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import ImageDataset, cache_dir
from ..data.tensors import to_tensor
from ..errors import ConfigError, RunError
from ..models.classifier import ClassifierConfig, ReferenceClassifier
from ..runs.checkpoint import read_tensors, write_tensors

EPOCHS, BATCH, LR, SEED = 5, 128, 1e-3, 0


def fingerprint(ds: ImageDataset) -> str:
    """sha256 over the dataset's images and labels (train and test), hex."""
    h = hashlib.sha256()
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        if arr is not None:
            h.update(str((arr.shape, arr.dtype.str)).encode())
            h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def reference_classifier(
    ds: ImageDataset, device: torch.device, progress: bool = False
) -> tuple[ReferenceClassifier, float]:
    """The dataset's reference classifier (eval mode, on ``device``) and its test accuracy."""
    if ds.y_train is None or ds.y_test is None:
        raise ConfigError(f"{ds.name} has no labels; sample quality needs a labelled dataset for its classifier")
    classes = int(max(ds.y_train.max(), ds.y_test.max())) + 1
    cfg = ClassifierConfig(tuple(ds.image_shape), classes)
    path = cache_dir() / "reference" / f"{ds.name}-{fingerprint(ds)[:16]}.safetensors"
    model = ReferenceClassifier(cfg)
    if path.is_file():
        tensors, meta = read_tensors(path)
        try:
            model.load_state_dict(tensors)
            return model.to(device).eval(), float(json.loads(meta["accuracy"]))
        except (RuntimeError, KeyError, ValueError):
            raise RunError(f"{path}: a damaged reference classifier; delete it and it is retrained") from None
    model = _train(model, ds, device, progress)
    x_test, y_test = to_tensor(ds.x_test, device), torch.as_tensor(ds.y_test, device=device)
    accuracy = (model.predict(x_test)[1] == y_test).double().mean().item()
    meta = {"accuracy": json.dumps(accuracy), "config": json.dumps(cfg.__dict__), "dataset": ds.name}
    write_tensors(path, model.state_dict(), meta)
    return model.eval(), accuracy


def _train(model: ReferenceClassifier, ds: ImageDataset, device: torch.device, progress: bool) -> ReferenceClassifier:
    torch.manual_seed(SEED)
    model = ReferenceClassifier(model.cfg).to(device)  # initialised under the fixed seed
    gen = torch.Generator().manual_seed(SEED)
    x = to_tensor(ds.x_train, device)
    assert ds.y_train is not None
    y = torch.as_tensor(ds.y_train, device=device)
    opt = torch.optim.Adam(model.parameters(), LR)
    steps = len(x) // BATCH
    bar = tqdm(total=EPOCHS * steps, desc=f"reference classifier for {ds.name}", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)  # fmt: skip
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(x), generator=gen).to(device)
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update()
    bar.close()
    return model.eval()
