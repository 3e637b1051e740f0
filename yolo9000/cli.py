"""`yolo9000` command line: one sub-command per module in `yolo9000.commands`.

Each command module exposes `add_parser(subparsers) -> argparse.ArgumentParser` that registers itself
and sets `func` (called with the parsed namespace, returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = ("train", "detect", "eval", "anchors", "convert", "export", "cfg", "emoji_world")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="yolo9000",
        description="YOLO9000 in PyTorch: joint detection + classification over a WordTree.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"yolo9000.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `yolo9000` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        # user errors surface as one clear line; use -v for the traceback
        if args.verbose:
            raise
        print(f"yolo9000 {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
