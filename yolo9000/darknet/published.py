"""Darknet's published files: where each comes from and how to recognise it, without shipping any of them.

Text files (cfgs, trees, names, label maps) are known by their size and sha256 at the pinned commit of
pjreddie/darknet; weights files by the size their cfg implies: the header (16 bytes for Darknet's published
files, 20 for files written with `seen` as 64 bits; `weights.read_weights_header` reads which) + 4 bytes per
float32 value of the cfg's conv layers. `check_dir` compares a folder with this table (`yolo9000 darknet check`).
The digests were computed from Darknet's own files at `DARKNET_COMMIT`; the value counts from the same cfgs
(a test recomputes both where those files are at hand).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

#: The pjreddie/darknet commit whose files the digests are of (its master)
DARKNET_COMMIT = "f6afaabcdf85f77e7aff2ec55c020c0e297c77f9"
DARKNET_REPO = "pjreddie/darknet"
WEIGHTS_SITE = "https://pjreddie.com/media/files/"
#: The header of Darknet's published .weights files: major, minor, revision and `seen`, four int32
PUBLISHED_HEADER = 16

Status = Literal["published", "size matches", "differs", "digest not known", "missing"]


@dataclass(frozen=True)
class TextFile:
    """A text file of the Darknet repository: its path there, size and sha256 at `DARKNET_COMMIT`."""

    name: str
    path: str  # in the repository
    size: int
    sha256: str
    what: str

    @property
    def url(self) -> str:
        """The raw file at the pinned commit (the digest is of that version)."""
        return f"https://raw.githubusercontent.com/{DARKNET_REPO}/{DARKNET_COMMIT}/{self.path}"

    @property
    def upstream(self) -> str:
        return f"{DARKNET_REPO}: {self.path}"


@dataclass(frozen=True)
class WeightsFile:
    """A published .weights file: the cfg whose conv layers it holds and their float32 value count."""

    name: str
    cfg: str
    values: int
    what: str

    @property
    def url(self) -> str:
        return WEIGHTS_SITE + self.name

    @property
    def upstream(self) -> str:
        return self.url

    def size_for(self, header: int = PUBLISHED_HEADER) -> int:
        """The file's size in bytes with a `header`-byte header."""
        return header + 4 * self.values

    @property
    def size(self) -> int:
        """The published file's size (Darknet's 16-byte header)."""
        return self.size_for()


TEXT_FILES: tuple[TextFile, ...] = (
    TextFile(
        "yolov2.cfg",
        "cfg/yolov2.cfg",
        2726,
        "9bb5bd2620624613483c8447bc713fe99e0a4af5f8e8d923b81520a162993574",
        "YOLOv2, 80 COCO classes (608 px)",
    ),
    TextFile(
        "yolo9000.cfg",
        "cfg/yolo9000.cfg",
        2329,
        "cfcdfc59907887f22bafb738b4c05bffdd0ff5861918eb280a2d0dce88666096",
        "YOLO9000 over the 9418-node WordTree",
    ),
    TextFile(
        "yolov2-tiny.cfg",
        "cfg/yolov2-tiny.cfg",
        1488,
        "58e8f4390c8080a90a40f3b7ec5868ee9ae32519f3c08f57d104e494de04b34d",
        "Tiny YOLOv2, 80 COCO classes",
    ),
    TextFile(
        "darknet19.cfg",
        "cfg/darknet19.cfg",
        2076,
        "7ac495cfb9f37c780ae5ea451dda4754ec147ae9820fa14b2fdd52f8e6426971",
        "Darknet-19 ImageNet classifier (224 px)",
    ),
    TextFile(
        "darknet19_448.cfg",
        "cfg/darknet19_448.cfg",
        2004,
        "95cbcec678b08f087493bd4dd0257109020a732d554479cf4cb439b5932a7e56",
        "Darknet-19 ImageNet classifier (448 px)",
    ),
    TextFile(
        "combine9k.data",
        "cfg/combine9k.data",
        273,
        "75877a8541cd4938a410351e83ab4b4649140677a718ddab8319a670b160f2b3",
        "YOLO9000's data file (names, labels, map)",
    ),
    TextFile(
        "9k.tree",
        "data/9k.tree",
        140047,
        "124b05033e928707069995e1b61823c80f10fc14d82f84c9cd5575443b61be54",
        "the WordTree: 9418 nodes and their parents",
    ),
    TextFile(
        "9k.names",
        "data/9k.names",
        99137,
        "ec9d79f248c0faff73e84b1980eb0b0ef56ad46005ba0b61bf8ab1d7f844f038",
        "the tree's node names",
    ),
    TextFile(
        "9k.labels",
        "data/9k.labels",
        94180,
        "2bd6c1881c7f14b1a01b091584fa66c982f0f72e574ce861ccef5a9402219fac",
        "the tree's WordNet ids",
    ),
    TextFile(
        "coco.names",
        "data/coco.names",
        625,
        "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
        "the 80 COCO class names",
    ),
    TextFile(
        "coco9k.map",
        "data/coco9k.map",
        387,
        "c0c1dad8d73734d881d21ec3237788b5f1033ec690f42839a3587752f9b637bb",
        "COCO class -> 9k tree node",
    ),
    TextFile(
        "inet9k.map",
        "data/inet9k.map",
        972,
        "065b8f891b22cc2f4530abc47da3f01c775338a92c361400f7a2668d0a7ecce9",
        "ImageNet detection class -> 9k tree node",
    ),
)

WEIGHTS_FILES: tuple[WeightsFile, ...] = (
    WeightsFile("yolov2.weights", "yolov2.cfg", 50_983_561, "YOLOv2 trained on COCO"),
    WeightsFile("yolo9000.weights", "yolo9000.cfg", 48_807_501, "YOLO9000 (COCO + ImageNet, 9418 nodes)"),
    WeightsFile("yolov2-tiny.weights", "yolov2-tiny.cfg", 11_237_145, "Tiny YOLOv2 trained on COCO"),
    WeightsFile("darknet19.weights", "darknet19.cfg", 20_856_776, "Darknet-19 classifier"),
    WeightsFile("darknet19_448.weights", "darknet19_448.cfg", 20_856_776, "Darknet-19 classifier at 448 px"),
    WeightsFile(
        "darknet19_448.conv.23",
        "darknet19_448.cfg",
        19_831_776,
        "its first 23 layers (18 convs): the detectors' ImageNet start (--weights-layers 23)",
    ),
)

PUBLISHED: dict[str, TextFile | WeightsFile] = {f.name: f for f in TEXT_FILES} | {f.name: f for f in WEIGHTS_FILES}
#: Suffixes of Darknet-like files reported with "digest not known" when they are not in the table
DARKNET_SUFFIXES = frozenset({".cfg", ".weights", ".tree", ".names", ".labels", ".map", ".data"})


@dataclass(frozen=True)
class FileCheck:
    """What `check_dir` found for one file."""

    name: str
    status: Status
    detail: str
    path: str | None = None  # where it was found
    upstream: str | None = None  # the repository path or download page
    url: str | None = None
    size: int | None = None  # the published size in bytes

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def sha256_of(path: Path) -> str:
    """The file's sha256 (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find(folder: Path, known: TextFile | WeightsFile) -> Path | None:
    """`known` in `folder`, or where a Darknet checkout keeps it (`cfg/yolov2.cfg`, `data/9k.tree`)."""
    places = [folder / known.name] + ([folder / known.path] if isinstance(known, TextFile) else [])
    return next((p for p in places if p.is_file()), None)


def check_text(path: Path, known: TextFile) -> tuple[Status, str]:
    """(status, detail) of a text file against its published digest."""
    size = path.stat().st_size
    if sha256_of(path) == known.sha256:
        return "published", f"sha256 matches {known.upstream}"
    return "differs", f"not the published file ({size:,} bytes, sha256 differs; published: {known.size:,} bytes)"


def check_weights(path: Path, known: WeightsFile) -> tuple[Status, str]:
    """(status, detail) of a weights file against the size its cfg implies (with the file's own header)."""
    from yolo9000.darknet.weights import read_weights_header

    size = path.stat().st_size
    try:
        _, _, header = read_weights_header(path)
    except ValueError as exc:
        return "differs", str(exc)
    want = known.size_for(header)
    if size == want:
        return (
            "size matches",
            f"size matches {known.cfg} ({size:,} bytes: {header}-byte header + {known.values:,} values)",
        )
    return (
        "differs",
        f"{size:,} bytes, but {known.cfg} implies {want:,} ({header}-byte header + {known.values:,} values)",
    )


def check_file(path: Path, known: TextFile | WeightsFile) -> FileCheck:
    """One known file found at `path`."""
    status, detail = check_text(path, known) if isinstance(known, TextFile) else check_weights(path, known)
    return FileCheck(known.name, status, detail, str(path), known.upstream, known.url, known.size)


def check_dir(folder: str | Path) -> list[FileCheck]:
    """Every published file of the table (present or missing) and every other Darknet-like file in `folder`."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    checks: list[FileCheck] = []
    for known in PUBLISHED.values():
        found = _find(root, known)
        if found is None:
            checks.append(
                FileCheck(
                    known.name, "missing", f"get it from {known.url}", None, known.upstream, known.url, known.size
                )
            )
        else:
            checks.append(check_file(found, known))
    seen = {Path(c.path).resolve() for c in checks if c.path}
    for other in sorted(root.iterdir()):
        if other.is_file() and _is_darknet_like(other) and other.resolve() not in seen:
            checks.append(FileCheck(other.name, "digest not known", "not a published Darknet file", str(other)))
    return checks


def _is_darknet_like(path: Path) -> bool:
    return path.suffix.lower() in DARKNET_SUFFIXES or ".conv." in path.name
