"""`vaekit data fetch|info`."""

from __future__ import annotations

import argparse
import json


def cmd_data(args: argparse.Namespace) -> int:
    from ..data import ImageOptions, load_dataset

    opts = ImageOptions(getattr(args, "image_size", 0) or 0, getattr(args, "channels", 0) or 0)
    opts.skip_bad = bool(getattr(args, "skip_bad_images", False))
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
