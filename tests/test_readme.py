"""Every shell command and Python block of README.md, run in order in one temporary folder.

The README is the first thing a user runs, so CI runs it too. Blocks are taken from the fences: ```bash
(shell, run with `bash -e`) and ```python; console output sits in ```text fences and is not run. A command
line outside a fence (an indented block) fails the check below, so no command escapes the test.

The folder holds what the README says is the user's, generated small: the files the README shows as
`# NAME:` comment lines (shop.csv, drones.csv) are written from those lines; pictures, COCO files, class
folders, an Open Images hierarchy and a wnid list are made here. Darknet's files come from ../shared
(skipped with one visible line without it), with the seed-0 random weights the parity tests write in place
of the published weights.

Two things differ from a user's run, both here in the open:
* `bash scripts/setup.sh` is a no-op: CI ran the real one before this suite (and the block that runs the
  suite itself is skipped).
* `yolo9000 train` is a shim that appends a tiny budget (`TRAIN_BUDGET`) and, for the default emoji-world
  run, `--world` naming a tiny generated world: the commands are otherwise the README's, unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from darknet_files import NEEDS_SHARED, REFERENCE

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: appended to every `yolo9000 train` of the README (argparse: the last value of an option wins)
TRAIN_BUDGET = ("--steps", "3", "--batch", "2", "--subdivisions", "1", "--size", "64")
#: blocks not run, by their first line, with the reason
NOT_RUN = {"bash scripts/setup.sh && python3 -m pytest -q": "the test command itself (CI runs it)"}
#: what a command line starts with (a line starting so outside a fence is an error)
COMMANDS = ("yolo9000 ", "build-wordtree", "wordtree ", "python3 ", "bash ", "pip ")
#: Darknet's files the README's Darknet and deployment blocks use, from ../shared/reference/darknet
DARKNET_FILES = ("yolov2.cfg", "yolo9000.cfg", "9k.tree", "9k.names", "coco.names")
# WordNet ids of the user's data: dog and cat (COCO nodes), Chihuahua and tabby (ImageNet-1k), bird
DOG, CAT, CHIHUAHUA, TABBY, BIRD = "n02084071", "n02121808", "n02085620", "n02123045", "n01503061"
RELEASED = ((DOG, 900), (CHIHUAHUA, 800), (TABBY, 777), (BIRD, 5000))
TINY_WORLD = dict(n_detection=10, n_classification_per_class=2, n_test=6, image_size=96, cls_image_size=64)


@dataclass(frozen=True)
class Block:
    """One fenced block of README.md: its first line number, language and text."""

    line: int
    lang: str
    text: str

    @property
    def first(self) -> str:
        return self.text.strip().splitlines()[0]

    def __str__(self) -> str:
        return f"README.md:{self.line} {self.first[:60]}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of `text`, in order."""
    blocks, lang, start, buf = [], None, 0, []
    for n, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\S*)\s*$", line)
        if lang is None and fence:
            lang, start, buf = fence.group(1) or "", n + 1, []
        elif lang is not None and line.startswith("```"):
            blocks.append(Block(start, lang, "\n".join(buf)))
            lang = None
        elif lang is not None:
            buf.append(line)
    assert lang is None, f"README.md:{start}: a fence is never closed"
    return blocks


def unfenced_commands(text: str) -> list[str]:
    """Lines outside fences that start like a command (indented code blocks included)."""
    found, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.strip().startswith(COMMANDS) and line.startswith("    "):
            found.append(f"README.md:{n}: {line.strip()}")
    return found


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.lang in ("bash", "sh", "python")]


def test_every_command_is_in_a_fence_and_every_fence_is_known():
    text = README.read_text(encoding="utf-8")
    assert unfenced_commands(text) == [], "README commands must sit in ```bash fences (so this test runs them)"
    assert {b.lang for b in BLOCKS} <= {"bash", "python", "text", "yaml"}, "README fences: bash, python, text, yaml"
    assert len(RUN) >= 8
    for block in (b for b in BLOCKS if b.lang == "yaml"):  # a file the README shows: it must at least read
        assert isinstance(yaml.safe_load(block.text), dict), str(block)


def _readme_files(text: str) -> dict[str, str]:
    """The files the README shows as comment lines: `# NAME:` followed by `# line` rows."""
    files: dict[str, str] = {}
    for m in re.finditer(r"^# (\S+\.\w+):\n((?:# .*\n)+)", text, re.M):
        files[m.group(1)] = "".join(line[2:] + "\n" for line in m.group(2).splitlines())
    return files


def _write_shims(bin_dir: Path, world: Path) -> None:
    """`yolo9000` that runs this checkout's CLI, adding the tiny training budget to `train`."""
    bin_dir.mkdir()
    budget = " ".join(TRAIN_BUDGET)
    shim = f"""#!/bin/bash
if [ "$1" = train ]; then
  extra="{budget}"
  case " $* " in *" --coco "*|*" --folders "*|*" --world "*|*" --resume "*) ;; *) extra="$extra --world {world}";; esac
  exec "{sys.executable}" -m yolo9000 "$@" $extra
fi
exec "{sys.executable}" -m yolo9000 "$@"
"""
    (bin_dir / "yolo9000").write_text(shim)
    (bin_dir / "yolo9000").chmod(0o755)


def _coco(ws: Path, name: str, images: str, pictures: list[Path], categories: list[tuple[str, str]]) -> None:
    """A COCO file `name` over copies of `pictures` in `images/`, one box per picture, cycling through
    `categories` ((name, node id) pairs)."""
    from PIL import Image

    (ws / images).mkdir()
    doc: dict = {"images": [], "annotations": []}
    doc["categories"] = [{"id": i + 1, "name": n, "node": node} for i, (n, node) in enumerate(categories)]
    for i, p in enumerate(pictures):
        shutil.copy(p, ws / images / p.name)
        w, h = Image.open(p).size
        doc["images"].append({"id": i + 1, "file_name": p.name, "width": w, "height": h})
        box = [w * 0.2, h * 0.2, w * 0.5, h * 0.5]
        ann = {"id": i + 1, "image_id": i + 1, "category_id": i % len(categories) + 1, "bbox": box}
        doc["annotations"].append({**ann, "area": box[2] * box[3], "iscrowd": 0})
    (ws / name).write_text(json.dumps(doc))


def _folders(root: Path, ids: list[str], pictures: list[Path]) -> None:
    """Class folders `root/ID/` with two of `pictures` each."""
    for k, wnid in enumerate(ids):
        (root / wnid).mkdir(parents=True)
        for p in pictures[2 * k : 2 * k + 2] or pictures[:2]:
            shutil.copy(p, root / wnid / p.name)


def _user_inputs(ws: Path, world: Path) -> None:
    """The user's files the README names, small."""
    from PIL import Image

    text = README.read_text(encoding="utf-8")
    for name, body in _readme_files(text).items():
        (ws / name).write_text(body)
    (ws / "scripts").mkdir()
    (ws / "scripts" / "setup.sh").write_text("# CI ran scripts/setup.sh before the suite\n")
    (ws / "my_classes.txt").write_text(f"{DOG}\n{TABBY}\n")
    pictures = sorted((world / "test" / "images").iterdir())
    for folder in ("photos", "pictures"):
        (ws / folder).mkdir()
        for p in pictures[:2]:
            shutil.copy(p, ws / folder / p.name)
    for name in ("street.jpg", "photo.jpg"):
        Image.open(pictures[0]).convert("RGB").save(ws / name)
    _coco(ws, "train.json", "train", pictures[:4], [("dog", DOG), ("cat", CAT)])
    _coco(ws, "val.json", "val", pictures[4:6], [("dog", DOG), ("cat", CAT)])
    _coco(ws, "shop_boxes.json", "shop_images", pictures[:3], [("Phone X", "acme:phone-x")])
    _folders(ws / "imagenet" / "train", [CHIHUAHUA, TABBY], pictures)
    _folders(ws / "imagenet" / "val", [CHIHUAHUA, TABBY], pictures[2:])
    _folders(ws / "imagenet21k", [CHIHUAHUA, TABBY, BIRD], pictures)
    synsets = "".join(f'<synset wnid="{w}" released="1" version="winter11" numImages="{n}" />' for w, n in RELEASED)
    (ws / "ReleaseStatus.xml").write_text(
        "<ReleaseStatus><releaseData>fall2011</releaseData><images><synsetInfos>"
        f"{synsets}</synsetInfos></images></ReleaseStatus>"
    )
    car = {"LabelName": "/m/0k4j", "Subcategory": [{"LabelName": "/m/0199g"}]}
    hierarchy = {"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/01g317"}, car]}
    (ws / "bbox_labels_600_hierarchy.json").write_text(json.dumps(hierarchy))
    (ws / "oidv7-class-descriptions.csv").write_text(
        "LabelName,DisplayName\n/m/0bl9f,Entity\n/m/01g317,Person\n/m/0k4j,Car\n/m/0199g,Bicycle\n"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The folder every block runs in, and the environment (PATH with the shims)."""
    from yolo9000.emoji.world import generate_world

    ws = tmp_path_factory.mktemp("readme")
    world = generate_world(tmp_path_factory.mktemp("readme_world") / "world", seed=3, **TINY_WORLD)
    _write_shims(ws / ".bin", world)
    _user_inputs(ws, world)
    env = dict(os.environ, PATH=f"{ws / '.bin'}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO))
    env.pop("YOLO9000_REQUIRE_PARITY", None)
    return ws, env


@pytest.fixture(scope="module")
def darknet_files(workspace, yolov2_seed0_weights) -> Path:
    """Darknet's files in the workspace (from ../shared), the weights being seed-0 random ones."""
    import parity_inputs as P

    ws, _ = workspace
    src = REFERENCE / "darknet"
    if not all((src / n).is_file() for n in DARKNET_FILES):
        pytest.skip(f"{NEEDS_SHARED}: Darknet's files not found in {src}")
    for name in DARKNET_FILES:
        if not (ws / name).exists():
            shutil.copy(src / name, ws / name)
    if not (ws / "yolov2.weights").exists():
        os.symlink(yolov2_seed0_weights, ws / "yolov2.weights")
    if not (ws / "yolo9000.weights").exists():
        P.write_darknet_weights((ws / "yolo9000.cfg").read_text(), ws / "yolo9000.weights", seed=0)
    return ws


def _needs_darknet(block: Block) -> bool:
    return any(name in block.text for name in (*DARKNET_FILES, "yolov2.weights", "yolo9000.weights", "yolov2.onnx"))


@pytest.mark.parametrize("block", RUN, ids=str)
def test_readme_block_runs(block: Block, workspace, request):
    if block.first in NOT_RUN:
        pytest.skip(NOT_RUN[block.first])
    ws, env = workspace
    if _needs_darknet(block):
        request.getfixturevalue("darknet_files")
    if block.lang == "python":
        cmd = [sys.executable, "-c", block.text]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{block} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
