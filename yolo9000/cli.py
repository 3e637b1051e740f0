"""`yolo9000` command line: one sub-command per module in `yolo9000.commands`.

Each command module exposes `add_parser(subparsers) -> argparse.ArgumentParser` that registers itself
and sets `func` (called with the parsed namespace, returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from wordtree.version import package_version

COMMANDS = (
    "train",
    "detect",
    "classify",
    "eval",
    "anchors",
    "convert",
    "export",
    "cfg",
    "darknet",
    "data",
    "emoji_world",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="yolo9000",
        description="YOLO9000 in PyTorch: joint detection + classification over a WordTree.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"yolo9000.commands.{name}").add_parser(sub)
    return parser


def error_line(exc: BaseException) -> str:
    """The one line printed for an error that ends a command: its message, or for a plain OSError of the
    operating system (one no writer turned into `wordtree.files.WriteFailed`, which names the file, the reason
    and what was kept), "FILE: reason" rather than Python's "[Errno 28] ... 'FILE'"."""
    if isinstance(exc, OSError) and type(exc).__str__ is OSError.__str__ and exc.strerror:
        names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
        return f"{' -> '.join(names)}: {exc.strerror}" if names else exc.strerror
    return str(exc)


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
    except BrokenPipeError:  # `yolo9000 ... | head`: the reader left; no error line, no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, RuntimeError) as exc:
        # user errors and failed writes (wordtree.files.WriteFailed: the file, the reason, what was kept)
        # surface as one clear line; use -v for the traceback
        if args.verbose:
            raise
        print(f"yolo9000 {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
