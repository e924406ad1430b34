"""`vaekit data fetch|info`."""

from __future__ import annotations

import argparse
import json


def cmd_data(args: argparse.Namespace) -> int:
    from ..config import DataConfig
    from ..data import ImageOptions, load_dataset
    from .parser import settings_from

    d = settings_from(args, DataConfig, "data") if args.data_command == "info" else DataConfig()
    opts = ImageOptions(d.image_size, d.channels)
    opts.skip_bad = d.skip_bad_images
    ds = load_dataset(args.name, args.data_dir, options=opts)
    info = ds.info()
    if args.data_command == "info" and args.json:
        print(json.dumps(info))
        return 0
    print(
        f"{info['name']}: {info['train']} train + {info['test']} test images of "
        f"{'x'.join(map(str, info['image_shape']))}, {info['dtype']} in [{info['min']:g}, {info['max']:g}]"
    )
    print(f"labels: {info['labels'] if info['labels'] is not None else 'none'}")
    print(f"source: {info['source']}")
    print(f"sha256: {info['sha256']}")
    return 0
