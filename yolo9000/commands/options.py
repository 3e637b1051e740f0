"""argparse ``type=`` checks for the numeric options of every `yolo9000` command.

The rules themselves live once in `wordtree.options` (also used by `build-wordtree`, `TrainConfig` and the
library's size checks); these are their command-line forms: a bad value ends the command with exit code 2 and
``argument --NAME: expected ..., got ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wordtree import options

positive_int = options.arg_type(options.positive_int)
non_negative_int = options.arg_type(options.non_negative_int)
size32 = options.arg_type(options.size32)
probability = options.arg_type(options.probability)
positive_float = options.arg_type(options.positive_float)
non_negative_float = options.arg_type(options.non_negative_float)


def add_model_options(
    parser: argparse.ArgumentParser,
    title: str = "model",
    path_type: Callable[[str], Any] = str,
    tree_help: str = "our tree JSON or a Darknet .tree, when the cfg's [region] uses a tree",
) -> argparse._ArgumentGroup:
    """The options that name a model, shared by `detect`, `export` and `eval`: a checkpoint, or a Darknet cfg
    with its weights, tree and names. Returns the group, for a command's own extra model options."""
    m = parser.add_argument_group(title)
    m.add_argument(
        "--checkpoint", type=path_type, help="a yolo9000 checkpoint (.pt) from `yolo9000 train` or `convert`"
    )
    m.add_argument("--cfg", type=path_type, help="a Darknet .cfg file")
    m.add_argument(
        "--weights", type=path_type, help="Darknet .weights for --cfg (without: random weights, with a warning)"
    )
    m.add_argument("--tree", type=path_type, help=tree_help)
    m.add_argument("--names", type=path_type, help="label names, one per line (as many as the region's classes)")
    return m
