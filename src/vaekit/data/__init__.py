"""Datasets and readers: MNIST, Fashion-MNIST, npz, IDX, image folders (PNG, JPEG; grey or colour); fetch, cache."""

from .datasets import (
    ImageDataset,
    ImageOptions,
    check_images,
    load_builtin,
    load_configured,
    load_dataset,
    load_path,
    load_run_data,
    save_cache,
)
from .fetch import Resource, cache_dir, fetch_resources
from .readers import encode_idx, parse_idx, read_idx, read_image_folder, read_npz

__all__ = [
    "ImageDataset",
    "ImageOptions",
    "Resource",
    "cache_dir",
    "check_images",
    "encode_idx",
    "fetch_resources",
    "load_builtin",
    "load_configured",
    "load_run_data",
    "load_dataset",
    "load_path",
    "parse_idx",
    "read_idx",
    "read_image_folder",
    "read_npz",
    "save_cache",
]
