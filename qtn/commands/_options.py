"""Options shared by several subcommands."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, example: str, prefix: str = "") -> None:
    """``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable) into ``args.overrides``: dotted config
    keys, values parsed as YAML (``--set train.lr=3e-4 data.n_train=64``)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"{prefix}override config values by dotted key, e.g. --set {example} "
        "(several per flag; repeatable)",
    )
