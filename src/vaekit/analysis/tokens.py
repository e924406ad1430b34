"""Token files: a tokenizer run's integer tokens as ``.npy`` arrays, and back to images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write
from ..errors import ConfigError, DataError, first_line
from ..models import TiTok
from ..plots import save_grid, save_images
from ..runs.open import Run, open_run


def _tokenizer_run(run_dir: str | Path) -> Run:
    run = open_run(run_dir)
    if run.cfg.model.kind == "gaussian":
        raise ConfigError(f"{run_dir} is a Gaussian VAE; tokens come from --model vq, fsq, mgvq or titok runs")
    return run


def tokenize_run(
    run_dir: str | Path,
    out: str | Path,
    split: str = "test",
    adaptive: bool = False,
    target_psnr: float | None = None,
    max_loss_db: float | None = None,
    mean_loss_db: float | None = None,
) -> tuple[Path, tuple[int, ...]]:
    """Write the tokens of a data split as (N, h, w), (N, h, w, G) or (N, K) int32 to an .npy file; returns (path,
    shape). ``adaptive`` (a nested-dropout TiTok): per image, the shortest prefix that meets ``target_psnr``,
    ``max_loss_db`` or both, or the lengths with the fewest tokens in all whose mean PSNR is ``mean_loss_db`` below the
    full length's; writes an .npz with ``tokens`` (N, K; -1 past each image's length) and ``lengths`` (N,)."""
    out = Path(out)
    targets = [t for t in (target_psnr, max_loss_db, mean_loss_db) if t is not None]
    if adaptive:
        if not targets or (mean_loss_db is not None and len(targets) > 1):
            raise ConfigError("--adaptive needs --target-psnr DB, --max-loss-db DB (or both), or --mean-loss-db DB "
                              "alone")  # fmt: skip
        if out.suffix != ".npz":
            raise ConfigError(f"--out {out}: --adaptive writes tokens and lengths; expected an .npz file name")
    elif targets:
        raise ConfigError("--target-psnr, --max-loss-db and --mean-loss-db choose lengths; add --adaptive")
    elif out.suffix != ".npy":
        raise ConfigError(f"--out {out}: expected a .npy file name")
    run = _tokenizer_run(run_dir)
    if adaptive and not getattr(run.cfg.model, "nested_dropout", False):
        raise ConfigError(f"{run_dir}: --adaptive needs ordered tokens, a --model titok run trained with "
                          "--nested-dropout")  # fmt: skip
    if split == "test":
        x = run.x_test
    else:
        from ..data import load_run_data
        from ..data.tensors import load_data_tensors

        ds = load_run_data(run.cfg, quiet=True)
        x, _ = load_data_tensors(run.cfg, run.x_test.device, ds)
    if adaptive:
        from ..evaluation.lengths import fewest_tokens, prefix_psnr, shortest_prefix

        tokens, psnr = prefix_psnr(run.tokenizer, x)
        if mean_loss_db is not None:
            lengths = fewest_tokens(psnr, mean_loss_db)
        else:
            lengths = shortest_prefix(psnr, target_psnr, max_loss_db)
        past = torch.arange(tokens.shape[1], device=tokens.device)[None] >= lengths[:, None]
        arr = tokens.masked_fill(past, -1).cpu().numpy().astype(np.int32)
        lens = lengths.cpu().numpy().astype(np.int32)

        def write_npz(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, tokens=arr, lengths=lens)

        return atomic_write(out, write_npz), arr.shape
    tokens = torch.cat([run.tokenizer.tokenize(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])
    arr = tokens.cpu().numpy().astype(np.int32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr)

    return atomic_write(out, write), arr.shape


def detokenize_file(
    run_dir: str | Path, tokens: str | Path, out: str | Path, n: int = 64, groups_used: int | None = None
) -> Path:
    """Decode the first ``n`` token grids of an .npy file (or of an adaptive .npz: each image from its prefix)
    into one PNG grid (clips: a GIF grid for a .gif name, else a strip of frames per clip)."""
    from .sampling import check_media_name

    run = _tokenizer_run(run_dir)
    check_media_name(out, len(run.image_shape) == 4)
    lengths = None
    try:
        arr = np.load(tokens, allow_pickle=False)
        if not isinstance(arr, np.ndarray) and {"tokens", "lengths"} <= set(arr.files):
            with arr:
                arr, lengths = arr["tokens"], arr["lengths"]
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
    device = run.x_test.device
    if lengths is not None:
        if (
            not isinstance(model, TiTok)
            or lengths.shape != arr.shape[:1]
            or not np.issubdtype(lengths.dtype, np.integer)
        ):
            raise DataError(f"{tokens}: tokens and lengths of an adaptive .npz, for a titok run, were expected")
        if lengths.min(initial=1) < 1 or lengths.max(initial=1) > arr.shape[1]:
            raise DataError(f"{tokens}: lengths must lie in [1, {arr.shape[1]}]")
        idx = torch.from_numpy(np.maximum(arr[:n], 0).astype(np.int64)).to(device)  # -1 past a length: dropped
        keep = torch.from_numpy(lengths[:n].astype(np.int64)).to(device)
        return save_grid(model.decode_prefix(idx, keep).cpu().numpy(), out)
    images = model.detokenize(torch.from_numpy(arr[:n].astype(np.int64)).to(device), groups_used)
    return save_images(images.cpu().numpy(), out)
