"""`yolo9000 darknet check DIR`: which of Darknet's published files a folder holds, and whether they are the
published ones (text files by sha256, weights by the size their cfg implies); where to get the others."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from yolo9000.commands import options

EPILOG = """\
examples:
  # the folder where you downloaded Darknet's files (or a Darknet checkout: cfg/ and data/ are looked in too)
  yolo9000 darknet check ~/darknet
  yolo9000 darknet check . --json

Text files (cfgs, 9k.tree, 9k.names, 9k.labels, coco.names, the .map files) are compared with the sha256 of
pjreddie/darknet at commit {commit}; weights files with the size their cfg implies (header + 4 bytes per
value), which is a size check, not a digest: the report says "size matches". Files of the folder that look
like Darknet's but are not in the table are listed as "digest not known". Missing files are listed with the
place to get them.
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `darknet` (its sub-command: `check`)."""
    from yolo9000.darknet.published import DARKNET_COMMIT

    p = subparsers.add_parser(
        "darknet",
        help="check a folder of Darknet's files (cfgs, trees, names, weights) against the published ones",
        description="Darknet's published files: which a folder holds, whether they are the published ones, and "
        "where to get the others.",
        epilog=EPILOG.format(commit=DARKNET_COMMIT[:12]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="darknet_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser(
        "check",
        help="report which of Darknet's files DIR holds and whether each is the published one",
        description="Report which of Darknet's published files DIR holds (also in DIR/cfg and DIR/data, as in a "
        "Darknet checkout) and whether each is the published one.",
        epilog=EPILOG.format(commit=DARKNET_COMMIT[:12]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("dir", type=Path, metavar="DIR", help="the folder to look in")
    check.add_argument(
        "--json",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print one JSON object (folder, counts, one entry per file) instead of the table",
    )
    check.set_defaults(func=run_check)
    return p


def run_check(args: argparse.Namespace) -> int:
    """Entry point of `yolo9000 darknet check`."""
    from wordtree.files import plural
    from yolo9000.darknet.published import check_dir

    checks = check_dir(args.dir)
    present = [c for c in checks if c.status != "missing"]
    published = [c for c in checks if c.status in ("published", "size matches")]
    if args.json:
        summary = {
            "dir": str(args.dir),
            "present": len(present),
            "published": len(published),
            "files": [c.as_json() for c in checks],
        }
        print(json.dumps(summary, indent=2))
        return 0
    width = max(len(c.name) for c in checks)
    print(f"Darknet's files in {args.dir}:")
    for c in checks:
        print(f"  {c.name:<{width}}  {c.status:<16}  {c.detail}")
    print(
        f"{plural(len(present), 'file')} present, {len(published)} of them as published "
        f"(by digest, or weights by size); {len(checks) - len(present)} missing"
    )
    return 0
