"""Token files: a tokenizer run's integer tokens as ``.npy`` arrays, and back to images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write
from ..errors import ConfigError, DataError, first_line
from ..plots import save_grid
from ..runs.open import Run, open_run


def _tokenizer_run(run_dir: str | Path) -> Run:
    run = open_run(run_dir)
    if run.cfg.model.kind == "gaussian":
        raise ConfigError(f"{run_dir} is a Gaussian VAE; tokens come from --model vq, fsq or mgvq runs")
    return run


def tokenize_run(run_dir: str | Path, out: str | Path, split: str = "test") -> tuple[Path, tuple[int, ...]]:
    """Write the tokens of a data split as (N, h, w) or (N, h, w, G) int32; returns (path, shape)."""
    run = _tokenizer_run(run_dir)
    if split == "test":
        x = run.x_test
    else:
        from ..data import load_configured
        from ..data.tensors import load_data_tensors

        ds = load_configured(run.cfg.data, quiet=True)
        x, _ = load_data_tensors(run.cfg, run.x_test.device, ds)
    tokens = torch.cat([run.tokenizer.tokenize(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])
    arr = tokens.cpu().numpy().astype(np.int32)
    out = Path(out)
    if out.suffix != ".npy":
        raise ConfigError(f"--out {out}: expected a .npy file name")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr)

    return atomic_write(out, write), arr.shape


def detokenize_file(run_dir: str | Path, tokens: str | Path, out: str | Path, n: int = 64) -> Path:
    """Decode the first ``n`` token grids of an .npy file into one PNG grid."""
    run = _tokenizer_run(run_dir)
    try:
        arr = np.load(tokens, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{tokens}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{tokens}: is a folder; pass the .npy file `vaekit tokenize` wrote") from None
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{tokens}: not a readable .npy array ({first_line(e)})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive of arrays
        arr.close()
        raise DataError(f"{tokens}: an .npz archive, not one .npy array; pass the file `vaekit tokenize` wrote")
    model = run.tokenizer
    want = model.token_shape
    if arr.ndim == len(want):
        arr = arr[None]
    if tuple(arr.shape[1:]) != want or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(
            f"{tokens}: expected integer tokens shaped (N, {', '.join(map(str, want))}), got {arr.dtype} {arr.shape}"
        )
    images = model.detokenize(torch.from_numpy(arr[:n].astype(np.int64)).to(run.x_test.device))
    return save_grid(images.cpu().numpy(), out)
