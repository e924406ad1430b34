"""`vaekit data fetch|info`."""

from __future__ import annotations

import argparse
import json


def cmd_data(args: argparse.Namespace) -> int:
    from ..data import load_dataset

    ds = load_dataset(args.name, args.data_dir)
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
