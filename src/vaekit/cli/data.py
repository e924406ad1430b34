"""`vaekit data fetch|info`."""

from __future__ import annotations

import argparse
import json

from ..errors import ConfigError


def cmd_data(args: argparse.Namespace) -> int:
    from ..config import DataConfig
    from ..config.verbs import FetchSettings
    from ..data import ImageOptions, load_dataset
    from ..data.datasets import load_builtin, load_moving_mnist
    from .parser import settings_from

    d = settings_from(args, DataConfig, "data") if args.data_command == "info" else DataConfig()
    clips = settings_from(args, FetchSettings, None).clips if args.data_command == "fetch" else None
    if clips is not None and args.name != "moving-mnist":
        raise ConfigError("--clips sets how many Moving MNIST clips to generate; drop it for " + args.name)
    opts = ImageOptions(d.image_size, d.channels, d.skip_bad_images, d.frames)
    if clips is not None:
        ds = load_moving_mnist(clips, args.data_dir)
    elif args.data_command == "fetch":  # emoji: an older cache without the images' names is read again
        ds = load_builtin(args.name, args.data_dir, with_meta=args.name == "emoji")
    else:
        ds = load_dataset(args.name, args.data_dir, options=opts)
    info = ds.info()
    if args.data_command == "info" and args.json:
        print(json.dumps(info))
        return 0
    what = "clips" if ds.is_clips else "images"
    print(
        f"{info['name']}: {info['train']} train + {info['test']} test {what} of "
        f"{'x'.join(map(str, info['image_shape']))}, {info['dtype']} in [{info['min']:g}, {info['max']:g}]"
    )
    print(f"labels: {info['labels'] if info['labels'] is not None else 'none'}")
    for key, m in info["meta"].items():
        print(f"{key}: {m['values']} values, e.g. {', '.join(m['examples'][:3])}")
    print(f"source: {info['source']}")
    print(f"sha256: {info['sha256']}")
    return 0
