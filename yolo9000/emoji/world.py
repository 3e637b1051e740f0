"""The emoji world: a small synthetic detection + classification dataset to show YOLO9000's joint training.

Layout of a world directory (`generate_world(out)` writes it; `ensure_world(root)` caches one per setting):

    detection/images/*.png, detection/annotations.json    COCO, boxes at COARSE labels (bird, car, ...)
    detection_fine/annotations.json                       the same images, boxes at FINE labels (upper bound)
    classification/<id>/*.png                             class folders at FINE labels (named by node id), no boxes
    test/images/*.png, test/annotations.json              COCO, boxes at FINE labels (incl. the no-box branch)
    test/annotations_coarse.json                          the same test boxes at COARSE labels
    wordtree.json                                         WordTree over every label, with label maps
    hierarchy.csv                                         (taxonomy "habitat") the hierarchy, id,parent,name
    README.md, world.json                                 description and the manifest (settings, counts)
    yolo/, darknet/, voc/, oi/                            with `--formats`: the world in other formats
                                                          (`yolo9000.emoji.formats`), written after it

Every picture is drawn from its own seed (seed, split, index), so a world is the same bytes whatever the
number of worker processes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from PIL import Image

from wordtree.files import cache_dir, writing
from wordtree.tree import WordTree
from yolo9000.emoji.classes import (
    CLUTTER,
    EmojiClass,
    coarse_boxed,
    coarse_id,
    coarse_labels,
    coarse_of,
    fine_id,
    habitat_rows,
    select_classes,
)
from yolo9000.emoji.render import SpriteBank
from yolo9000.emoji.scenes import (  # noqa: F401  (re-exported: the public drawing API)
    GENERATOR_VERSION,
    WorldConfig,
    draw_classification,
    draw_scene,
    font_id,
)
from yolo9000.progress import redirect_logging

log = logging.getLogger(__name__)

MANIFEST = "world.json"
#: Every file a world folder holds (`_write_world`), as relative POSIX paths; --force replaces a world only
#: when nothing else is in it (the rule of `wordtree.files.prepare_output_dir`)
_WORLD_FILE = re.compile(
    r"(world\.json|README\.md|wordtree\.json|hierarchy\.csv|detection/annotations\.json|detection_fine/annotations\.json"
    r"|test/annotations(_coarse)?\.json|(detection|test)/images/\d+\.png|classification/[^/]+/[^/]+\.png"
    r"|(yolo|darknet|voc|oi)/.+|\.(yolo|darknet|voc|oi)\.tmp-\d+/.+)"  # `--formats` (emoji.formats), whole folders
)
_PNG_LEVEL = 3  # fixed so the bytes do not depend on a library default; 6+ costs 2x time for 10% size


def _config(seed: int, sizes: dict) -> WorldConfig:
    known = {f.name for f in fields(WorldConfig)}
    unknown = sorted(set(sizes) - known)
    if unknown:
        raise ValueError(f"emoji world: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return WorldConfig(seed=seed, **sizes).validate()


# ---- splits -------------------------------------------------------------------------------------------
def _save_png(image: Image.Image, path: Path) -> None:
    # encoded in memory: PIL writing to the file itself ignores a short write (a truncated picture on a full
    # disk), Python's write raises
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=_PNG_LEVEL)
    path.write_bytes(buf.getvalue())


#: One picture to draw: (split, index, output folder, settings, class set, font path or None)
Job = tuple[Any, int, str, WorldConfig, str, "str | None"]
#: What a scene job returns: (index, fine class index of each box, boxes as x0, y0, x1, y1)
SceneResult = tuple[int, list[int], list[list[float]]]


def _scene_job(args: Job) -> SceneResult:
    split, index, out_dir, cfg, class_set, font = args
    bank = _bank(font)
    classes = _split_classes(class_set, split)
    image, picks, boxes = draw_scene(bank, classes, cfg, split, index)
    _save_png(image, Path(out_dir) / f"{index:06d}.png")
    return index, picks, boxes.tolist()


def _cls_job(args: Job) -> None:
    ci, index, out_dir, cfg, class_set, font = args
    bank = _bank(font)
    cls = select_classes(class_set)[ci]
    image = draw_classification(bank, cls, cfg, index, ci)
    _save_png(image, Path(out_dir) / f"{fine_id(cls, cfg.taxonomy)}_{index:05d}.png")


_BANKS: dict[str, SpriteBank] = {}


def _bank(font: str | None) -> SpriteBank:
    key = str(font)
    if key not in _BANKS:
        _BANKS[key] = SpriteBank(font)
    return _BANKS[key]


def _split_classes(class_set: str, split: str) -> tuple[EmojiClass, ...]:
    classes = select_classes(class_set)
    return tuple(c for c in classes if c.boxed) if split == "detection" else classes


def _run(jobs: list[Job], fn: Callable[[Job], Any], workers: int, desc: str, progress: bool) -> list[Any]:
    """Run `fn` over `jobs` (in order of results) in this process or a pool, with a progress bar (a line per
    10% when the console is not a terminal)."""
    from yolo9000.progress import track

    bar: dict[str, Any] = dict(total=len(jobs), desc=f"emoji world: {desc}", unit="picture", enabled=progress)
    if workers <= 1 or len(jobs) < 64:
        return [fn(j) for j in track(jobs, leave=False, **bar)]
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        return list(track(pool.imap(fn, jobs, chunksize=16), leave=False, **bar))


def _categories(classes: tuple[EmojiClass, ...], coarse: bool, taxonomy: str = "wordnet") -> list[dict]:
    """COCO categories; each names its tree node by "wnid" (WordNet taxonomy) or "node" (a user id)."""
    key = "wnid" if taxonomy == "wordnet" else "node"
    everything = select_classes("all")  # whether a coarse label is boxed does not depend on the class set
    if coarse:
        return [
            {
                "id": i + 1,
                "name": name,
                "supercategory": "boxed" if coarse_boxed(name, everything, taxonomy) else "no-box",
                key: coarse_id(name, taxonomy),
            }
            for i, name in enumerate(coarse_labels(classes, taxonomy))
        ]
    return [
        {
            "id": i + 1,
            "name": c.name,
            "supercategory": coarse_of(c, taxonomy),
            key: fine_id(c, taxonomy),
            "emoji": c.emoji,
        }
        for i, c in enumerate(classes)
    ]


def _coco(
    desc: str,
    cfg: WorldConfig,
    size: int,
    results: list[SceneResult],
    categories: list[dict[str, Any]],
    label_of: Callable[[int], int],
) -> dict[str, Any]:
    """A COCO dict: images in index order, annotation ids 1..n, category ids via `label_of(fine_index)`."""
    images: list[dict] = []
    anns: list[dict] = []
    for index, picks, boxes in results:
        images.append({"id": index + 1, "file_name": f"{index:06d}.png", "width": size, "height": size})
        for ci, (x0, y0, x1, y1) in zip(picks, boxes):
            w, h = x1 - x0, y1 - y0
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": index + 1,
                    "category_id": label_of(ci),
                    "bbox": [x0, y0, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    info = {
        "description": f"yolo9000 emoji world: {desc}",
        "version": str(GENERATOR_VERSION),
        "seed": cfg.seed,
        "contributor": "yolo9000.emoji.world",
    }
    return {"info": info, "licenses": [], "images": images, "annotations": anns, "categories": categories}


def _write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_tree(classes: tuple[EmojiClass, ...], out: Path, taxonomy: str = "wordnet") -> dict:
    """Build the WordTree over every label with our builder, add the label maps, save `wordtree.json`.

    WordNet taxonomy: the builder over the fine and coarse wnids. Habitat: the hierarchy is written as
    `hierarchy.csv` and built as `build-wordtree --hierarchy hierarchy.csv` does."""
    from wordtree import build_wordtree
    from wordtree.builder import build
    from wordtree.hierarchy import read_csv, resolve
    from wordtree.tree import LabelMap

    boxed = tuple(c for c in classes if c.boxed)
    det = [n for n in coarse_labels(boxed, taxonomy)]
    coarse_all = coarse_labels(classes, taxonomy)
    fine = [fine_id(c, taxonomy) for c in classes]
    cls_sorted = sorted(fine)  # ImageFolder order
    if taxonomy == "wordnet":
        tree = build_wordtree(fine + [coarse_id(n) for n in coarse_all])
    else:
        with open(out / "hierarchy.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([("id", "parent", "name"), *habitat_rows(classes)])
        tree, _ = build([], user=resolve([read_csv(out / "hierarchy.csv")]))
    maps = [
        LabelMap("detection", tuple(det), tuple(coarse_id(n, taxonomy) for n in det)),
        LabelMap("detection_fine", tuple(c.name for c in classes), tuple(fine)),
        LabelMap("classification", tuple(cls_sorted), tuple(cls_sorted)),
        LabelMap("test", tuple(c.name for c in classes), tuple(fine)),
        LabelMap("test_coarse", tuple(coarse_all), tuple(coarse_id(n, taxonomy) for n in coarse_all)),
    ]
    tree = WordTree(tree.ids, tree.parent, tree.names, label_maps=maps, targets=tree.targets)
    tree.save(out / "wordtree.json")
    return tree.summary()


def _readme(cfg: WorldConfig, counts: dict, classes: tuple[EmojiClass, ...], summary: dict) -> str:
    tax = cfg.taxonomy
    rows = "\n".join(
        f"| {c.emoji} | {c.name} | `{fine_id(c, tax)}` | {coarse_of(c, tax)} | `{coarse_id(coarse_of(c, tax), tax)}` | "
        f"{'yes' if c.boxed else '**no** (classification only)'} |"
        for c in classes
    )
    settings = "\n".join(f"| `{k}` | {v} |" for k, v in asdict(cfg).items())
    nobox = sorted({coarse_of(c, tax) for c in classes if not c.boxed})
    idw = "wnid" if tax == "wordnet" else "id"
    what = (
        "stand for real WordNet noun\nsynsets"
        if tax == "wordnet"
        else "sit in a hierarchy of our own\n(`hierarchy.csv`: animals by habitat, vehicles by medium, fruit by colour), not WordNet's"
    )
    built = (
        "with `wordtree.build_wordtree` over every fine and coarse wnid"
        if tax == "wordnet"
        else "from `hierarchy.csv` (as `build-wordtree --hierarchy hierarchy.csv` does)"
    )
    return f"""# Emoji world (seed {cfg.seed})

A synthetic world for YOLO9000-style joint training, written by `yolo9000 emoji-world`
(generator version {GENERATOR_VERSION}). Emoji from the Noto Color Emoji font {what}. Detection boxes carry only coarse, COCO-like labels; class folders carry the fine labels; the
test set is boxed at the fine labels. The branch(es) {", ".join(nobox) or "(none)"} never get a detection
box: a detector must learn to find and name them from the class folders alone.

Same settings and seed give the same bytes (every picture is drawn from its own seed).

## Splits

| split | files | pictures | boxes | labels |
|---|---|---|---|---|
| detection | `detection/images/`, `detection/annotations.json` (COCO) | {counts["detection_images"]} | {counts["detection_boxes"]} | coarse ({counts["detection_categories"]} categories) |
| detection, fine labels | `detection_fine/annotations.json` (same pictures) | {counts["detection_images"]} | {counts["detection_boxes"]} | fine (upper-bound baseline) |
| classification | `classification/<{idw}>/*.png` (class folders) | {counts["classification_images"]} | none | fine ({counts["classification_classes"]} classes) |
| test | `test/images/`, `test/annotations.json` (COCO) | {counts["test_images"]} | {counts["test_boxes"]} | fine, incl. the no-box branch |
| test, coarse labels | `test/annotations_coarse.json` (same pictures) | {counts["test_images"]} | {counts["test_boxes"]} | coarse |

`wordtree.json` is the WordTree built {built}
({summary.get("nodes", "?")} nodes, depth {summary.get("max_depth", "?")}), with label maps `detection`,
`detection_fine`, `classification`, `test` and `test_coarse`. COCO categories carry their `{"wnid" if tax == "wordnet" else "node"}`.

## Classes

| emoji | fine label | {idw} | coarse label | coarse {idw} | detection boxes |
|---|---|---|---|---|---|
{rows}

## Settings

| setting | value |
|---|---|
{settings}

## Using it

    yolo9000 train                       # no data arguments: a cached world with the default settings
    yolo9000 train --coco detection/annotations.json --folders classification --tree wordtree.json \
        --cfg emoji-tiny --out runs/joint                        # YOLO9000's joint training, explicitly
    yolo9000 eval --checkpoint runs/joint/last.pt --emoji-world . --out runs/joint/eval

Baselines: drop `--folders` (detection only), or train on `detection_fine/annotations.json` with
`--images detection/images` (fine boxes, the upper bound). `benchmarks/bench_emoji_world.py` runs all three.
"""


def _world_file(rel: str) -> bool:
    """True for a relative path that a world folder holds (written by `_write_world`)."""
    return _WORLD_FILE.fullmatch(rel) is not None


def _check_out(out: Path, cfg: WorldConfig, font: Path | None, force: bool) -> bool:
    """True when `out` already holds this exact world; raise when it holds anything else (unless `force`).

    The rule of `wordtree.files.prepare_output_dir`, with `world.json` as the folder's marker: `out` is new,
    empty or a world; another world is replaced only with `force`, and never when it holds a file the generator
    did not write (replacing a world deletes the old folder); `out` may not be or hold the font, nor lie inside
    its folder's input."""
    from wordtree.files import prepare_output_dir

    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a directory")
    manifest = read_manifest(out)
    is_world = manifest is not None and manifest.get("generator", "yolo9000.emoji.world") == "yolo9000.emoji.world"
    try:
        folder = prepare_output_dir(
            out,
            command="yolo9000 emoji-world",
            settings={"key": cfg.key(font)},
            force=True,  # the world's own refusals below say more than the generic one
            inputs=[font],
            owned=_world_file,
            flag="OUT",
            save=False,
            adopt=lambda _: is_world,
        )
    except ValueError as exc:
        raise FileExistsError(str(exc)) from None
    if is_world and manifest is not None and manifest.get("key") == cfg.key(font) and manifest.get("complete"):
        return True
    if not out.exists() or not any(out.iterdir()):
        return False
    if not is_world:
        raise FileExistsError(f"{out}: directory is not empty and is not an emoji world; choose another OUT")
    if not force:
        raise FileExistsError(f"{out}: holds an emoji world with other settings; pass --force to replace it")
    try:
        folder.check_replace_all()  # --force replaces only what the generator wrote
    except ValueError as exc:
        raise FileExistsError(str(exc)) from None
    return False


def read_manifest(world: Path) -> dict | None:
    """The `world.json` manifest of a world directory, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(world) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_world(folder: str | os.PathLike) -> bool:
    """True when `folder` holds a finished emoji world (its `world.json` written by this generator)."""
    manifest = read_manifest(Path(folder))
    return (
        manifest is not None and manifest.get("generator") == "yolo9000.emoji.world" and bool(manifest.get("complete"))
    )


def world_at(folder: str | os.PathLike, *, workers: int | None = None, progress: bool = False) -> Path:
    """The emoji world in `folder`, as `yolo9000 train --world FOLDER` uses it: the folder itself when it holds
    one (any settings or taxonomy, e.g. made by `yolo9000 emoji-world`); the default world generated there when
    it is missing or empty. Anything else is a `ValueError` naming the folder: nothing is written into a folder
    that holds other files.

    Under DDP (WORLD_SIZE > 1) one rank generates and the others wait, on a lock file beside the folder."""
    folder = Path(folder)
    if is_world(folder):
        return folder
    problem = _not_a_world(folder)
    if problem:
        raise ValueError(f"--world {folder}: {problem}")
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        log.info("generating the default emoji world in %s (it was empty)", folder)
        return generate_world(folder, workers=workers, progress=progress)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    with _exclusive(lock):
        if not is_world(folder):
            log.info("generating the default emoji world in %s (it was empty)", folder)
            generate_world(folder, workers=workers, progress=progress)
        lock.unlink(missing_ok=True)  # every holder checks the world first, so a late rank's new lock is harmless
    return folder


def _not_a_world(folder: Path) -> str | None:
    """What keeps `folder` from holding a new world (None: missing or empty)."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "is a file, not an emoji world folder"
    entries = sorted(folder.iterdir())
    if not entries:
        return None
    worlds = [p for p in entries if p.is_dir() and is_world(p)]
    if worlds:  # a cache root of `ensure_world` (what --world named before issue 23)
        return f"holds emoji worlds but is not one; name one of them, e.g. --world {worlds[0]}"
    return (
        f"is not an emoji world (no {MANIFEST}) and not empty; make one with `yolo9000 emoji-world {folder}`, "
        "or name a new or empty folder for the default world"
    )


def world_containing(path: str | os.PathLike) -> Path | None:
    """The emoji world that `path` (a file or folder of it, e.g. its detection annotations) belongs to, or None."""
    for folder in Path(path).resolve().parents:
        manifest = read_manifest(folder)
        if manifest is not None and manifest.get("generator") == "yolo9000.emoji.world":
            return folder
    return None


def generate_world(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    n_detection: int = WorldConfig.n_detection,
    n_classification_per_class: int = WorldConfig.n_classification_per_class,
    n_test: int = WorldConfig.n_test,
    image_size: int = WorldConfig.image_size,
    font: str | os.PathLike | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = False,
    **settings: Any,
) -> Path:
    """Draw a world into `out` (see the module doc for the layout) and return `out`.

    An existing identical world is kept as is; a different one is replaced only with `force`; any other
    non-empty directory is refused. Files are written into a temporary sibling and renamed at the end, so an
    interrupted run never leaves a half world behind. Extra `settings` are `WorldConfig` fields.
    """
    cfg = _config(
        seed,
        dict(
            n_detection=n_detection,
            n_classification_per_class=n_classification_per_class,
            n_test=n_test,
            image_size=image_size,
            **settings,
        ),
    )
    out = Path(out)
    font = Path(font) if font is not None else None
    if _check_out(out, cfg, font, force):
        log.info("emoji world already present at %s", out)
        return out
    classes = select_classes(cfg.class_set)
    bank = _bank(None if font is None else str(font))
    bank.preload([c.emoji for c in classes] + list(CLUTTER))  # a missing font/glyph fails before any file

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        # a full disk or read-only folder is one line naming the world (the old one stays); log lines above bars
        with writing(out), redirect_logging():
            _write_world(tmp, cfg, classes, None if font is None else str(font), workers, progress)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            shutil.rmtree(old)
        try:
            tmp.rename(out)
        except OSError:
            # another process finished the same world first (ensure_world from several ranks)
            if _check_out(out, cfg, font, False):
                shutil.rmtree(tmp)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_world(
    tmp: Path, cfg: WorldConfig, classes: tuple[EmojiClass, ...], font: str | None, workers: int, progress: bool
) -> None:
    boxed = tuple(c for c in classes if c.boxed)
    tax = cfg.taxonomy
    coarse_all = coarse_labels(classes, tax)
    coarse_det = coarse_labels(boxed, tax)
    fine_cat = {c.wnid: i + 1 for i, c in enumerate(classes)}

    det_dir, test_dir = tmp / "detection" / "images", tmp / "test" / "images"
    for d in (det_dir, test_dir, tmp / "detection_fine"):
        d.mkdir(parents=True)
    det = _run(
        [("detection", i, str(det_dir), cfg, cfg.class_set, font) for i in range(cfg.n_detection)],
        _scene_job,
        workers,
        "detection",
        progress,
    )
    _write_json(
        _coco(
            "detection split, coarse labels",
            cfg,
            cfg.image_size,
            det,
            _categories(boxed, coarse=True, taxonomy=tax),
            lambda ci: coarse_det.index(coarse_of(boxed[ci], tax)) + 1,
        ),
        tmp / "detection" / "annotations.json",
    )
    _write_json(
        _coco(
            "detection split, fine labels (upper bound)",
            cfg,
            cfg.image_size,
            det,
            _categories(classes, coarse=False, taxonomy=tax),
            lambda ci: fine_cat[boxed[ci].wnid],
        ),
        tmp / "detection_fine" / "annotations.json",
    )

    test = _run(
        [("test", i, str(test_dir), cfg, cfg.class_set, font) for i in range(cfg.n_test)],
        _scene_job,
        workers,
        "test",
        progress,
    )
    _write_json(
        _coco(
            "test split, fine labels",
            cfg,
            cfg.image_size,
            test,
            _categories(classes, coarse=False, taxonomy=tax),
            lambda ci: ci + 1,
        ),
        tmp / "test" / "annotations.json",
    )
    _write_json(
        _coco(
            "test split, coarse labels",
            cfg,
            cfg.image_size,
            test,
            _categories(classes, coarse=True, taxonomy=tax),
            lambda ci: coarse_all.index(coarse_of(classes[ci], tax)) + 1,
        ),
        tmp / "test" / "annotations_coarse.json",
    )

    jobs = []
    for ci, c in enumerate(classes):
        (tmp / "classification" / fine_id(c, tax)).mkdir(parents=True)
        jobs += [
            (ci, i, str(tmp / "classification" / fine_id(c, tax)), cfg, cfg.class_set, font)
            for i in range(cfg.n_classification_per_class)
        ]
    _run(jobs, _cls_job, workers, "classification", progress)

    summary = _build_tree(classes, tmp, tax)
    counts = {
        "detection_images": cfg.n_detection,
        "detection_boxes": sum(len(p) for _, p, _ in det),
        "detection_categories": len(coarse_det),
        "classification_images": len(jobs),
        "classification_classes": len(classes),
        "test_images": cfg.n_test,
        "test_boxes": sum(len(p) for _, p, _ in test),
    }
    (tmp / "README.md").write_text(_readme(cfg, counts, classes, summary), encoding="utf-8")
    _write_json(
        {
            "generator": "yolo9000.emoji.world",
            "version": GENERATOR_VERSION,
            "key": cfg.key(None if font is None else Path(font)),
            "config": asdict(cfg),
            "font": font_id(None if font is None else Path(font)),
            "counts": counts,
            "tree": summary,
            "complete": True,
        },
        tmp / MANIFEST,
    )


def default_world_root() -> Path:
    """Where `ensure_world` caches worlds by default: `emoji-world` in the toolkit's user cache folder
    (`wordtree.files.cache_dir`: `$YOLO9000_CACHE`, else `$XDG_CACHE_HOME/yolo9000` or ~/.cache/yolo9000)."""
    return cache_dir() / "emoji-world"


def ensure_world(
    root: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    font: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = False,
    **sizes: Any,
) -> Path:
    """The world for these settings under `root` (default `default_world_root()`), generated on first use.

    Worlds are cached as `root/emoji-<key>` where the key hashes every setting, so different sizes or seeds
    live side by side and a finished world is reused as is. `sizes` are `WorldConfig` fields
    (n_detection, n_classification_per_class, n_test, image_size, cls_image_size, class_set, ...).
    `workers` (default: CPU count, at most 4) only changes the speed, never the bytes.
    """
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    cfg = _config(seed, sizes)
    root = Path(root) if root is not None else default_world_root()
    world = root / f"emoji-{cfg.key(None if font is None else Path(font))}"
    manifest = read_manifest(world)
    if manifest is not None and manifest.get("complete"):
        return world
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / f".{world.name}.lock"):  # one process generates; the others (DDP ranks) wait
        manifest = read_manifest(world)
        if manifest is not None and manifest.get("complete"):
            return world
        log.info("generating the emoji world (seed %d) in %s", seed, world)
        kwargs = {k: v for k, v in asdict(cfg).items() if k != "seed"}
        return generate_world(world, seed=seed, font=font, workers=workers, progress=progress, force=True, **kwargs)


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` (POSIX `flock`; without fcntl, no lock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: concurrent generation stays possible, as before
        yield
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
