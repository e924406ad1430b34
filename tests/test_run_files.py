"""Damaged run directories: a mutation fuzz of config.json, model.safetensors, train_state.safetensors and
metrics.jsonl. Whatever the damage, the readers that `vaekit evaluate` and `vaekit train --resume` use either
read the file or raise a vaekit error of one line, never anything else."""

import copy
import json
import random
import struct

import pytest
import torch

from vaekit.config import GaussianConfig, RunConfig
from vaekit.errors import VaekitError
from vaekit.runs.checkpoint import load_model, read_config, read_metrics, read_train_state
from vaekit.training.loop import Trainer, train

MUTATIONS_PER_FILE = 300  # 1,200 in all


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    import numpy as np

    from conftest import blob_images

    root = tmp_path_factory.mktemp("fuzz")
    x, y = blob_images()
    np.savez(root / "blobs.npz", x=x, y=y)
    cfg = RunConfig(model=GaussianConfig(hidden=(16,), latent_dim=3))
    cfg.data.dataset, cfg.train.epochs, cfg.train.batch_size = str(root / "blobs.npz"), 1, 32
    cfg.train.device, cfg.train.precision, cfg.train.step = "cpu", "fp32", "fused"
    train(cfg, root / "run", progress=False)
    files = {f: (root / "run" / f).read_bytes() for f in FILES}
    return root / "run", files, cfg


def _json_values(rng: random.Random):
    return rng.choice([None, True, -1, 0, 7, 1e308, -1e-300, "", "x", "fp32", [], [0], [1, -2, 3], {}, {"a": 1}])


def _mutate_json(data, rng: random.Random):
    """Replace, delete or retype one value somewhere in a JSON document."""
    if not isinstance(data, dict | list) or rng.random() < 0.1:
        return _json_values(rng)
    keys = list(data.keys()) if isinstance(data, dict) else list(range(len(data)))
    if not keys:
        return _json_values(rng)
    k = rng.choice(keys)
    r = rng.random()
    if r < 0.2 and isinstance(data, dict):
        del data[k]
    elif r < 0.6:
        data[k] = _mutate_json(data[k], rng)
    else:
        data[k] = _json_values(rng)
    return data


def _mutate_safetensors_header(blob: bytes, rng: random.Random) -> bytes:
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header = _mutate_json(header, rng)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob[8 + n :]


def _mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    b = bytearray(blob)
    kind = rng.randrange(6)
    if kind == 0 and b:  # flip bits
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == 2:  # insert random bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 3 and b:  # overwrite a span
        i = rng.randrange(len(b))
        b[i : i + 8] = bytes(rng.randrange(256) for _ in range(8))
    elif kind == 4:  # the first bytes, where headers and lengths live
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(min(len(b), 16) or 1) if b else 0 : 1] = bytes([rng.randrange(256)])
    else:  # not UTF-8
        b[rng.randrange(len(b) + 1) : 0] = b"\xff\xfe\xc3"
    return bytes(b)


def _mutations(name: str, blob: bytes, seed: int):
    rng = random.Random(seed)
    for _ in range(MUTATIONS_PER_FILE):
        r = rng.random()
        if name.endswith(".json") and r < 0.6:
            yield json.dumps(_mutate_json(copy.deepcopy(json.loads(blob)), rng)).encode()
        elif name.endswith(".jsonl") and r < 0.6:
            lines = blob.decode().splitlines()
            i = rng.randrange(len(lines))
            lines[i] = json.dumps(_mutate_json(json.loads(lines[i]), rng))
            yield ("\n".join(lines) + "\n").encode()
        elif name.endswith(".safetensors") and r < 0.5:
            yield _mutate_safetensors_header(blob, rng)
        else:
            yield _mutate_bytes(blob, rng)


def _read_config_and_model(run, trainer):
    read_config(run)
    load_model(run)


def _read_model(run, trainer):
    load_model(run)


def _read_and_restore_train_state(run, trainer):
    trainer.restore(read_train_state(run))


def _read_metrics(run, trainer):
    read_metrics(run)


FILES = {
    "config.json": _read_config_and_model,
    "model.safetensors": _read_model,
    "train_state.safetensors": _read_and_restore_train_state,
    "metrics.jsonl": _read_metrics,
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_damaged_run_file_gives_one_line_vaekit_errors_only(pristine, name):
    run, files, cfg = pristine
    x = torch.rand(64, 64)
    trainer = Trainer(copy.deepcopy(cfg), x, torch.device("cpu"))
    errors = 0
    try:
        for i, blob in enumerate(_mutations(name, files[name], seed=sum(map(ord, name)))):
            (run / name).write_bytes(blob)
            try:
                FILES[name](run, trainer)
            except VaekitError as e:
                errors += 1
                assert "\n" not in str(e) and str(e).strip(), (name, i, str(e))
            except Exception as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{name} mutation {i}: {type(e).__name__}: {e}")
    finally:
        (run / name).write_bytes(files[name])
    assert errors > MUTATIONS_PER_FILE // 10  # the fuzz does break the files, often
