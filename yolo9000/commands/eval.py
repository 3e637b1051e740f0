"""`yolo9000 eval`: mAP (with WordTree ancestor crediting), classification and hierarchical measures."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from wordtree.formats import load_tree, read_map_indices, read_names
from yolo9000.commands import options
from yolo9000.commands.defaults import default_checkpoint, free_default_folder
from yolo9000.darknet.model import DarknetModel
from yolo9000.device import resolve_device
from yolo9000.evaluation.predict import EVAL_OPTIONS

if TYPE_CHECKING:
    import pandas as pd
    from pycocotools.coco import COCO, _Dataset

    from wordtree.tree import WordTree
    from yolo9000.detection.decode import DecodeOptions
    from yolo9000.detection.detection_model import DetectionModel
    from yolo9000.evaluation.predict import LabelledPictures
    from yolo9000.evaluation.summary import ClassificationReport, DetectionReport
    from yolo9000.inference.detector import Detector

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("runs/eval")

EPILOG = """\
examples:
  # after `yolo9000 train`: runs/emoji/last.pt on its emoji world's test split (fine boxes) -> runs/eval
  yolo9000 eval

  # a checkpoint on a given emoji world; the never-boxed classes come from the world's wordtree.json
  yolo9000 eval --checkpoint runs/emoji/last.pt --emoji-world WORLD_DIR --out runs/emoji/eval

  # any COCO JSON + images, and class folders named by WordNet id
  yolo9000 eval --checkpoint ckpt.pt --coco val.json --images val/ --folders imagenet_val/ --out eval/

  # Darknet's YOLO9000 on COCO: categories -> nodes and the boxed classes both from coco9k.map
  yolo9000 eval --cfg yolo9000.cfg --weights yolo9000.weights --tree 9k.tree --names 9k.names \\
      --coco instances_val2014.json --images val2014/ --category-map coco9k.map \\
      --train-maps coco9k.map --out eval9k/

  # the model exported by `yolo9000 export`, in ONNX Runtime (or --backend openvino; an OpenVINO .xml too):
  # the Detector that `yolo9000 detect` runs, with detect's options (--tree-nms, --agnostic-nms, --precision ...)
  yolo9000 export --checkpoint runs/emoji/last.pt -o emoji.onnx
  yolo9000 eval --model emoji.onnx --emoji-world WORLD_DIR --out runs/emoji/eval-onnx
  yolo9000 eval --checkpoint ckpt.pt --coco val.json --images val/ --tree-nms --exact-letterbox --out eval/

  # score predictions written by `yolo9000 detect --out det/` (JSON lines) without running a model; the
  # decoding and runtime options do not apply (summary.json records only what did)
  yolo9000 eval --predictions det/detections.jsonl --tree wordtree.json --coco test.json --out eval/

  # score the records of `yolo9000 classify --out cls/` on the class folders they classified (top-1/top-5 and the
  # hierarchical measures; top-k needs --top-k k or more in classify, top-k over all nodes every leaf); with
  # --hier-thresh, each record's walk stops again at that threshold (no model run for another threshold)
  yolo9000 classify --checkpoint cls.pt --top-k 5 --out cls/ imagenet_val/
  yolo9000 eval --predictions cls/predictions.jsonl --tree wordtree.json --folders imagenet_val/ --out eval/
  yolo9000 eval --predictions cls/predictions.jsonl --tree wordtree.json --folders imagenet_val/ \
    --hier-thresh 0.7 --out eval-0.7/

The console shows a short table: AP50 and AP of all classes and of each box group, in the README's terms
((a) fine classes whose parent had boxes, (b) never-boxed ones, (c) the boxed, coarse ones). On an emoji world
(no data, or --emoji-world) it is the README's table: mAP50 under both scorings, (c) on the coarse labels of
test/annotations_coarse.json (one model run, decoded both ways).

outputs in --out: summary.json (every figure), groups.csv/.md (the console's table), per_class.csv/.md,
pr_curves.png, ap_per_class.png, box_depth_accuracy.csv/.md, classification.csv/.md, depth_accuracy.csv/.md/.png,
distances.csv/.md; on an emoji world per_class_coarse.csv/.md.

COCO categories are placed in the tree as training places them (their "node"/"wnid", the tree's label maps:
--label-map picks one), then by the shipped COCO table or a unique node name. A tree prediction counts for a
category when its node is that category's node or below it ("terrier" counts for "dog"). The groups, by the
training box labels (summary.json's names): (a) under_boxed, never boxed but an ancestor was; (b) never_boxed,
no box on its path; (c) boxed, a box label itself; boxed_below, a descendant was; "unseen" = (a) + (b), the
classes that never had a box (the paper's 156).
"""


def add_parser(subparsers: options.Subparsers) -> argparse.ArgumentParser:
    """Register `eval`."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model or saved predictions (mAP, top-k, hierarchical measures)",
        description="Evaluate detections (COCO mAP with ancestor crediting), classification on class "
        "folders (top-1/top-5 over leaves and nodes) and hierarchical measures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = options.add_model_options(
        p,
        title="model (default: the emoji-world checkpoint runs/emoji/last.pt, evaluated on its "
        "world's test split when no data is given)",
        path_type=Path,
        tree_help="our tree JSON or a Darknet .tree: the tree of a --cfg model, or of --predictions",
    )
    options.add_exported_model_option(m, path_type=Path)
    d = p.add_argument_group("data")
    d.add_argument("--coco", type=Path, metavar="JSON", help="COCO detection JSON with the ground truth")
    d.add_argument("--images", type=Path, metavar="DIR", help="image folder of --coco (default: next to the JSON)")
    d.add_argument(
        "--folders",
        type=Path,
        metavar="DIR",
        help="class folders named by node id, or by class name for a flat model (classification)",
    )
    d.add_argument(
        "--data",
        type=Path,
        action="append",
        metavar="SRC",
        help="ground truth in any format `yolo9000 data check` reads (Ultralytics data.yaml, Darknet .data, VOC "
        "year folder, Open Images YAML, COCO JSON); repeat to join several; a VOC folder also gets VOC07 11-point "
        "and VOC2010+ AP",
    )
    d.add_argument(
        "--split",
        default=None,
        metavar="NAME",
        help="split of --data (default: its held-out split: val, valid, test or validation)",
    )
    d.add_argument(
        "--names-csv",
        type=Path,
        default=None,
        metavar="CSV",
        help="name,id rows placing free-form class names of --data in the tree",
    )
    d.add_argument(
        "--emoji-world",
        type=Path,
        metavar="DIR",
        help="an emoji world: its test/ split, and its wordtree.json for the boxed classes",
    )
    d.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE",
        help="score these predictions instead of running a model: JSONL from `yolo9000 detect` or a COCO results "
        "JSON (with --coco), or predictions.jsonl from `yolo9000 classify` (with --folders)",
    )
    d.add_argument(
        "--max-images",
        type=options.positive_int,
        default=None,
        metavar="N",
        help="evaluate only the first N images of --coco",
    )
    d.add_argument(
        "--category-map",
        type=Path,
        metavar="FILE",
        default=None,
        help="tree node of each --coco category in id order, one per line (Darknet's coco9k.map); "
        "default: the category's 'node' or 'wnid', the tree's label maps, the COCO table or its name",
    )
    d.add_argument(
        "--label-map",
        default=None,
        metavar="NAME",
        help="the tree label map that names the --coco categories (as `train --label-map`; default: every map)",
    )
    t = p.add_argument_group("classes that never had a box in training")
    t.add_argument(
        "--train-maps",
        type=Path,
        metavar="FILE",
        nargs="+",
        default=None,
        help="Darknet .map, training COCO JSON, tree JSON or node-id list of the box labels",
    )
    t.add_argument(
        "--train-tree", type=Path, metavar="FILE", help="training tree JSON whose label maps name the box labels"
    )
    t.add_argument(
        "--box-maps",
        nargs="+",
        default=None,
        metavar="NAME",
        help="label-map names that had boxes (default: detection/coco maps)",
    )
    o = p.add_argument_group("decoding (as `yolo9000 detect`'s, with mAP's low default --thresh)")
    options.add_decode_options(o, EVAL_OPTIONS)
    options.add_nms_kind_options(o)
    o.add_argument(
        "--scoring",
        choices=("walk", "map"),
        default="walk",
        help="the report's scoring. walk: one label per box where the tree walk stops, credited to its ancestors "
        "(default); map: Darknet's `detector valid`, one score obj*P(category) per category. On an emoji world "
        "the console table shows both",
    )
    options.add_runtime_options(p.add_argument_group("runtime (as `yolo9000 detect`'s)"))
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"output folder for tables, plots and summary.json (default {DEFAULT_OUT}, or {DEFAULT_OUT}2, ... when "
        "it holds files)",
    )
    p.add_argument(
        "--force",
        dest="overwrite",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="replace files of an earlier report in --out, or write into a folder it did not make (never over files "
        "this tool did not write)",
    )
    # the old name of --force, kept working for scripts
    p.add_argument("--overwrite", dest="overwrite", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress of the model run: a bar on a terminal, a line per 10%% otherwise",
    )
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True, help="PR curves and AP bars as PNGs")
    p.set_defaults(func=run)
    return p


def _checkpoint(args: argparse.Namespace) -> Path | None:
    """The checkpoint to load: --checkpoint, or without --cfg / --model the default run's; checked to exist."""
    if args.cfg or args.model:
        return cast("Path | None", args.checkpoint)  # both given: the loader refuses the pair
    ckpt: Path = args.checkpoint or default_checkpoint()
    if not ckpt.is_file():
        if args.checkpoint:
            raise FileNotFoundError(f"{ckpt}: checkpoint not found")
        raise FileNotFoundError(
            f"{ckpt}: no model given and no default checkpoint; run `yolo9000 train` "
            f"first or pass --checkpoint / --cfg --weights / --model"
        )
    return ckpt


def _load_model(args: argparse.Namespace, *, detects: bool) -> tuple[DetectionModel, list[str] | None, str]:
    """(model, label names, where it came from) from --model, --checkpoint or --cfg/--weights/--tree/--names.

    A model that scores detections is loaded by `load_detector_model`, the loader of `detect` (it must have a
    [region]; --model is an exported one in its runtime); one that only classifies --folders may be a
    classifier, which that loader refuses, so it is read with the two loaders beneath it."""
    from yolo9000.inference.detector import load_detector_model

    checkpoint = _checkpoint(args)
    tree = args.tree if args.cfg else None  # a checkpoint carries its tree; `run` compares a --tree with it
    source = str(args.model or args.cfg or checkpoint)
    if detects or args.model is not None:
        model, names = load_detector_model(
            checkpoint=checkpoint,
            cfg=args.cfg,
            weights=args.weights,
            tree=tree,
            names=args.names,
            model=args.model,
            backend=args.backend,
            precision=args.precision,
        )
        return model, names, source
    if checkpoint is not None and args.cfg:
        raise ValueError("give either --checkpoint or --cfg [--weights], not both")
    classifier: DarknetModel
    if args.cfg:
        from yolo9000.darknet.model import load_darknet

        classifier = load_darknet(
            args.cfg,
            args.weights,
            tree=load_tree(tree, args.names) if tree else None,
            tree_source=str(tree) if tree else None,
        )
    else:
        from yolo9000.darknet.checkpoint import load_model

        classifier = load_model(cast(Path, checkpoint), device="cpu")
    return classifier, (read_names(args.names) if args.names else classifier.names), source


def _same_tree(tree: WordTree, tree_source: str | None, model_tree: WordTree | None, model_source: str) -> None:
    """Refuse a checkpoint whose tree is not the one the ground truth is read with (node numbers differ)."""
    if model_tree is None:
        raise ValueError(f"{model_source}: the model has no tree but {tree_source} is given as the evaluated tree")
    if model_tree.fingerprint != tree.fingerprint:
        raise ValueError(
            f"{model_source}: the checkpoint's tree {model_tree.fingerprint} is not the evaluated tree "
            f"{tree.fingerprint} ({tree_source}); evaluate with the tree the model was trained on"
        )


def _subset_coco(coco: COCO, n: int) -> COCO:
    """The first `n` images (by id) of a COCO object and their annotations."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    keep = sorted(coco.getImgIds())[:n]
    ks = set(keep)
    data = dict(coco.dataset)
    data["images"] = [im for im in coco.dataset["images"] if im["id"] in ks]
    data["annotations"] = [a for a in coco.dataset["annotations"] if a["image_id"] in ks]
    sub = COCO()
    sub.dataset = cast("_Dataset", data)
    with contextlib.redirect_stdout(io.StringIO()):
        sub.createIndex()
    setattr(sub, "source", getattr(coco, "source", "COCO file"))  # not a COCO attribute (see load_coco)
    return sub


def _boxed_mask(
    args: argparse.Namespace, tree: WordTree, world_tree: Path | None
) -> tuple[np.ndarray | None, str | None]:
    """Bool mask of the tree nodes that were box labels in training, and where it came from."""
    from wordtree import WordTree
    from yolo9000.evaluation import boxed_from_file, boxed_from_tree

    if args.train_maps:
        mask: np.ndarray | None = None
        for f in args.train_maps:
            m = boxed_from_file(f, tree)
            mask = m if mask is None else (mask | m)
        return mask, ", ".join(map(str, args.train_maps))
    tt = args.train_tree or world_tree
    if tt is not None:
        if not Path(tt).is_file():
            raise FileNotFoundError(f"{tt}: training tree not found")
        train_tree = WordTree.load(tt)
        got = boxed_from_tree(train_tree, args.box_maps)
        if got is None:
            raise ValueError(f"{tt}: the tree has no detection label map; name one with --box-maps")
        mask = np.zeros(len(tree), dtype=bool)
        missing = [w for w, b in zip(train_tree.ids, got) if b and w not in tree]
        if missing:
            raise ValueError(f"{tt}: box label {missing[0]} is not a node of the evaluated tree")
        mask[[tree.index(w) for w, b in zip(train_tree.ids, got) if b]] = True
        return mask, str(tt)
    got = boxed_from_tree(tree, args.box_maps)
    return got, ("model tree label maps" if got is not None else None)


@dataclass(frozen=True)
class _Data:
    """What an evaluation reads, resolved from the options and checked to exist."""

    coco: Path | None  # the detection ground truth
    images: Path | None  # its image folder
    folders: Path | None  # class folders
    world_tree: Path | None  # an emoji world's tree, whose label maps name the boxed classes
    coarse: Path | None = None  # an emoji world's test boxes at the coarse labels (the README's group (c))
    class_only: Path | None = None  # --data's classification-only pictures: JSON [[file, category id], ...]
    shown: str | None = None  # what the user named (--data), where `coco` is the ground truth made of it


def _resolve_data(args: argparse.Namespace) -> _Data:
    """The data to evaluate on: the options', an emoji world's test split, or with no data (and no model named)
    the test split of the world that `yolo9000 train` uses by default."""
    world = None
    coco_path, images, folders = args.coco, args.images, args.folders
    class_only = None
    if args.data:
        if coco_path is not None or args.emoji_world is not None:
            raise ValueError("--data is the ground truth: give it instead of --coco / --emoji-world, not beside them")
        coco_path, images, class_only = _data_truth(args)
        if class_only is not None and (args.predictions is not None or args.model is not None):
            log.warning("%s: classification-only pictures need a --checkpoint or --cfg model; not scored", class_only)
            class_only = None
    if args.emoji_world is not None:
        world = args.emoji_world
        if not (world / "test" / "annotations.json").is_file():
            raise FileNotFoundError(
                f"{world}: not an emoji world (no test/annotations.json); create one with "
                f"`yolo9000 emoji-world {world}`"
            )
    if args.predictions is not None and coco_path is None and world is None and folders is None:
        raise ValueError(
            "--predictions needs the ground truth: add --coco (detections) or --folders (records of yolo9000 classify)"
        )
    if args.predictions is not None and folders is not None and (coco_path is not None or world is not None):
        boxes = "--data" if args.data else "--coco" if coco_path is not None else "--emoji-world"
        raise ValueError(
            f"--folders cannot be used with --predictions and {boxes} together: a predictions file holds detections "
            f"(scored with {boxes}) or classifications (scored with --folders), not both"
        )
    if args.model is not None and folders is not None:
        raise ValueError(f"--folders needs --checkpoint or --cfg: an exported --model ({args.model}) scores detections")
    if coco_path is None and folders is None and world is None:
        if args.checkpoint or args.cfg or args.model or not default_checkpoint().is_file():
            raise ValueError("nothing to evaluate: give --coco (with --images), --folders, or --emoji-world")
        # plain `yolo9000 eval`: the default emoji-world model on the test split of its world
        from yolo9000.emoji.world import ensure_world

        world = Path(ensure_world(None))  # the cached world `yolo9000 train` uses by default
        log.info("evaluating %s on the emoji world's test split in %s", default_checkpoint(), world)
    coarse = None
    if world is not None:
        coarse = world / "test" / "annotations_coarse.json"
        coco_path = coco_path or world / "test" / "annotations.json"
        images = images or world / "test" / "images"
        if coco_path != world / "test" / "annotations.json" or args.predictions is not None or not coarse.is_file():
            coarse = None  # the README's groups need the world's own test boxes, run through a model here
    for what, path, is_dir in (
        ("COCO annotation file", coco_path, False),
        ("image folder", images, True),
        ("class folder root", folders, True),
        ("predictions file", args.predictions, False),
    ):
        if path is not None and not (path.is_dir() if is_dir else path.is_file()):
            raise FileNotFoundError(f"{path}: {what} not found")
    if coco_path is not None and images is None and args.predictions is None:
        images = coco_path.parent / "images" if (coco_path.parent / "images").is_dir() else coco_path.parent
    world_tree = world / "wordtree.json" if world is not None else None
    if world_tree is not None and not world_tree.is_file():
        world_tree = None
    shown = ", ".join(map(str, args.data)) if args.data else None
    return _Data(coco_path, images, folders, world_tree, coarse, class_only, shown)


def _data_truth(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """--data as a COCO ground-truth file in the cache (`coco_ground_truth`; rewritten when a dataset file
    changes), the folder its image names are relative to, and a JSON file of its classification-only pictures
    ([file, category id] pairs; None when it has none)."""
    import hashlib

    from wordtree.files import cache_dir, write_text_atomic
    from yolo9000.data.ground_truth import coco_ground_truth
    from yolo9000.data.labelled import read_names_csv
    from yolo9000.data.sources import default_val_split, open_source

    sources = []
    for path in args.data:
        split = args.split if args.split is not None else default_val_split(path)
        try:
            sources.append(open_source(path, split))
        except (ValueError, FileNotFoundError) as exc:
            text = str(exc)
            raise ValueError(f"--data {text}" if text.startswith(str(path)) else f"--data {path}: {text}") from None
    args.data_sources = sources
    names = read_names_csv(args.names_csv) if args.names_csv else None
    key = json.dumps(
        [[str(Path(p).resolve()), s.split, Path(p).stat().st_mtime_ns] for p, s in zip(args.data, sources)]
        + [str(args.names_csv), args.names_csv.stat().st_mtime_ns if args.names_csv else 0]
    )
    folder = cache_dir() / "ground_truth"
    target = folder / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".json")
    root_file, class_file = target.with_suffix(".root"), target.with_suffix(".classes.json")
    if not (target.is_file() and root_file.is_file() and class_file.is_file()):
        truth = coco_ground_truth(sources, names=names, exif=not args.ignore_exif, progress=True)
        for problem in truth.problems[:5]:
            log.warning("%s", problem)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, json.dumps(truth.coco))
        write_text_atomic(class_file, json.dumps(truth.class_only))
        write_text_atomic(root_file, str(truth.root))  # written last: the three are there together
    has_classes = bool(json.loads(class_file.read_text(encoding="utf-8")))
    return target, Path(root_file.read_text(encoding="utf-8")), class_file if has_classes else None


@dataclass(frozen=True)
class _Truth:
    """A ground-truth file scored here, with the tree node of each of its categories (None without a tree)."""

    coco: COCO
    cat_nodes: np.ndarray | None


def _truth(args: argparse.Namespace, path: Path, tree: WordTree | None, *, main: bool = True) -> _Truth:
    """The ground truth in `path` (its first --max-images images), its categories placed in the tree by
    --category-map or --label-map when it is the data's (`main`), else by the file's own "node"/"wnid"."""
    from yolo9000 import evaluation as ev

    coco = ev.load_coco(path)
    if args.max_images:
        coco = _subset_coco(coco, args.max_images)
    if tree is None:
        return _Truth(coco, None)
    if main and args.category_map:
        return _Truth(coco, _read_category_map(args.category_map, coco, tree))
    return _Truth(coco, ev.category_nodes(coco, tree, label_map=args.label_map if main else None))


def _decodings(
    scoring: str, decoding: DecodeOptions, truths: Sequence[_Truth], tree: WordTree | None
) -> list[DecodeOptions]:
    """The decodings a scoring needs: the tree walk (a flat head: its classes) once, whatever the ground truths;
    Darknet's per-category scoring once per ground truth, over the nodes of its categories."""
    if scoring == "walk":
        return [decoding]
    if tree is None:
        raise ValueError("--scoring map needs a tree model")
    return [decoding.with_(class_map=tuple(cast("np.ndarray", t.cat_nodes).tolist())) for t in truths]


def _labelled(
    preds: pd.DataFrame, truth: _Truth, mapped: bool, tree: WordTree | None, names: Sequence[str] | None
) -> pd.DataFrame:
    """The predictions labelled for `truth`: tree nodes stay (credited to the categories above them); positions in
    a per-category decoding (`mapped`) and a flat head's classes become its COCO category ids."""
    from yolo9000 import evaluation as ev

    if mapped:
        cat_ids = np.asarray(ev.category_ids(truth.coco), dtype=np.int64)
        return preds.assign(label=cat_ids[preds["label"].to_numpy()])
    if tree is None:
        flat = _flat_to_category(preds["label"].tolist(), truth.coco, names)
        return preds.assign(label=np.array(flat, dtype=np.int64))
    return preds


def _model_predictions(
    args: argparse.Namespace,
    model: DetectionModel,
    names: Sequence[str] | None,
    truths: Sequence[_Truth],
    images: Path,
    scorings: Sequence[str],
    decoding: DecodeOptions,
    device: str,
    meta: dict[str, Any],
) -> dict[str, list[pd.DataFrame]]:
    """Per scoring, the model's predictions labelled for each ground truth (all of the same pictures): one pass of
    the network over the images, decoded as each scoring needs. The first scoring's run settings go into `meta`."""
    from yolo9000 import evaluation as ev

    tree = model.tree
    plan = [(scoring, _decodings(scoring, decoding, truths, tree)) for scoring in scorings]
    first = plan[0][1][0]
    detector = _detector(args, model, names, first, device)
    meta.update(_run_settings(args, first, detector))
    tables = iter(
        ev.run_detector_decodings(
            detector,
            truths[0].coco,
            images,
            [d for _, ds in plan for d in ds],
            batch_size=args.batch_size,
            workers=args.workers,
            exif=not args.ignore_exif,
            progress=args.progress,
        )
    )
    out = {}
    for scoring, ds in plan:
        got = [next(tables) for _ in ds]
        got = got * len(truths) if len(got) == 1 else got  # one walk serves every ground truth
        out[scoring] = [_labelled(t, truth, scoring == "map", tree, names) for t, truth in zip(got, truths)]
    return out


@dataclass
class _Detection:
    """The detection reports of an evaluation: the data's under --scoring, the coarse labels' (an emoji world),
    and the console's short table."""

    report: DetectionReport
    coarse: DetectionReport | None
    groups: pd.DataFrame


def _detection(
    args: argparse.Namespace,
    data: _Data,
    model: DetectionModel | None,
    tree: WordTree | None,
    names: Sequence[str] | None,
    boxed: np.ndarray | None,
    device: str,
    decoding: DecodeOptions,
    meta: dict[str, Any],
    tree_source: str | None = None,
) -> _Detection:
    """Predictions (run or read) scored against the COCO file, and on an emoji world's test split also against
    its coarse labels under both scorings (the README's (a), (b), (c)). The settings that applied go into `meta`
    (a model run's decoding and runtime; nothing of them for saved predictions) with the number of predictions."""
    from yolo9000 import evaluation as ev

    assert data.coco is not None  # run() scores detections only with a COCO file
    truths = [_truth(args, data.coco, tree)]
    world = data.coarse is not None and tree is not None and boxed is not None and model is not None
    if world:
        assert data.coarse is not None
        truths.append(_truth(args, data.coarse, tree, main=False))
        if set(truths[1].coco.getImgIds()) != set(truths[0].coco.getImgIds()):
            raise ValueError(f"{data.coarse}: not the pictures of {data.coco} (image ids differ)")
        meta["coarse"] = str(data.coarse)
    if args.predictions is not None:
        read = ev.read_predictions(args.predictions, truths[0].coco, tree=tree, names=names, tree_source=tree_source)
        preds = {args.scoring: [read]}
    else:
        assert model is not None and data.images is not None  # run() loads a model and finds images
        scorings = [args.scoring] + [s for s in ("map", "walk") if world and s != args.scoring]
        preds = _model_predictions(args, model, names, truths, data.images, scorings, decoding, device, meta)
    # tree nodes are credited to the categories above them; a per-category decoding labels categories
    credit = {scoring: args.predictions is not None or scoring != "map" for scoring in preds}
    reports = {
        scoring: [
            ev.detection_report(t.coco, p, tree=tree, boxed=boxed, cat_nodes=t.cat_nodes, credit=credit[scoring])
            for t, p in zip(truths, ps)
        ]
        for scoring, ps in preds.items()
    }
    meta["detections"] = int(len(preds[args.scoring][0]))
    if any(s.format == "voc" for s in getattr(args, "data_sources", [])):  # VOC's own AP beside COCO's
        from yolo9000.evaluation.voc_ap import voc_from_coco

        use_tree = tree if credit[args.scoring] else None
        t = truths[0]
        _, scored = ev.evaluate_detections(t.coco, preds[args.scoring][0], tree=use_tree, cat_nodes=t.cat_nodes)
        meta["voc"] = voc_from_coco(t.coco, scored).as_dict()
    main = reports[args.scoring]
    if not world:
        return _Detection(main[0], None, ev.group_table({args.scoring: main[0]}))
    order = [s for s in ("map", "walk") if s in reports]  # the README's column order
    groups = ev.group_table(
        {s: reports[s][0] for s in order},
        {s: reports[s][1] for s in order},
        never_boxed=_never_boxed(main[1]),
    )
    return _Detection(main[0], main[1], groups)


def _never_boxed(coarse: DetectionReport) -> str | None:
    """The README's name of group (b) from the coarse labels that never had a box: "never-boxed insects"."""
    per = coarse.per_class
    if "group" not in per:
        return None
    names = [str(n) for n in per.loc[per["group"] == "never_boxed", "name"]]
    plural = [n if n.endswith("s") else f"{n}s" for n in names]
    return f"never-boxed {' and '.join(plural)}" if plural else None


def _detector(
    args: argparse.Namespace, model: DetectionModel, names: Sequence[str] | None, decoding: DecodeOptions, device: str
) -> Detector:
    """The `Detector` that `yolo9000 detect` would build from the same options; its first line says what runs."""
    return options.build_detector(args, model, names, decoding, device, "eval")


def _run_settings(args: argparse.Namespace, decoding: DecodeOptions, detector: Detector) -> dict[str, Any]:
    """summary.json's record of how a model run detected: the decoding and the runtime that applied."""
    return {
        "thresh": decoding.thresh,
        "hier_thresh": decoding.hier_thresh,
        "nms": decoding.nms,
        "mode": decoding.mode,
        "class_agnostic": decoding.class_agnostic,
        "tree_nms": decoding.tree_nms,
        "scoring": args.scoring,
        "size": list(detector.net_size),
        "backend": detector.backend,
        "precision": detector.precision,
        "exact_letterbox": detector.exact_letterbox,
        "exif": not args.ignore_exif,
        "device": str(detector.device),
    }


def _inputs(args: argparse.Namespace) -> list[str | Path | None]:
    """Every file and folder the evaluation reads (--out may neither be nor hold one of them)."""
    keys = ("checkpoint", "cfg", "weights", "tree", "names", "model", "coco", "images", "folders", "train_tree")
    found = [getattr(args, k, None) for k in keys + ("emoji_world", "predictions", "category_map")]
    found += list(getattr(args, "data", None) or []) + [getattr(args, "names_csv", None)]
    return found + list(getattr(args, "train_maps", None) or []) + list(getattr(args, "resolved_inputs", []))


def _evaluated_tree(
    args: argparse.Namespace, world_tree: Path | None
) -> tuple[WordTree | None, list[str] | None, str | None]:
    """With --predictions: the tree they are scored with (--tree, else a model's, else the emoji world's), the
    model's label names, and the file the tree came from. A model only lends its tree and names here."""
    tree = load_tree(args.tree, args.names) if args.tree else None
    tree_source = str(args.tree) if args.tree else None
    names = None
    if args.checkpoint or args.model or (tree is None and args.cfg):
        model, model_names, model_source = _load_model(args, detects=False)
        if tree is None:
            tree, names, tree_source = model.tree, model_names, model_source
        else:
            _same_tree(tree, tree_source, model.tree, model_source)
            names = model_names
    if tree is None and world_tree is not None:
        from wordtree import WordTree

        tree = WordTree.load(world_tree)
        tree_source = str(world_tree)
    return tree, names, tree_source


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report, and print the short table (the report's files have every figure)."""

    from yolo9000 import evaluation as ev
    from yolo9000.evaluation.writer import ReportWriter

    data = _resolve_data(args)
    if args.predictions is not None:
        _check_prediction_kind(args.predictions, classes=data.folders is not None)
    if args.out is None:
        args.out = free_default_folder(DEFAULT_OUT)
    # refuse to clobber an earlier report before spending time on the model
    # the data as resolved (defaults too); an image folder that is the annotations' own folder is left out, so a
    # report may go into a subfolder beside the annotations
    beside = data.images is not None and data.coco is not None and data.images.resolve() == data.coco.resolve().parent
    args.resolved_inputs = [data.coco, None if beside else data.images, data.folders, data.world_tree, data.coarse]
    ReportWriter(args.out, overwrite=args.overwrite, inputs=_inputs(args)).check_free(["summary.json"])

    if options.given(args, "hier_thresh") and args.predictions is not None and data.folders is None:
        log.warning(
            "--hier-thresh %g is not applied to saved detections: they were labelled by `yolo9000 detect "
            "--hier-thresh`",
            args.hier_thresh,
        )
    decoding = options.decode_options(args, **options.nms_kind(args))
    model: DetectionModel | None = None
    names: list[str] | None = None
    meta: dict[str, Any] = {"predictions": str(args.predictions) if args.predictions else None}
    tree_source: str | None = None  # the file the evaluated tree came from, named when fingerprints differ
    device = "cpu"
    if args.predictions is None:
        device = str(resolve_device(args.device))
        model, names, tree_source = _load_model(args, detects=data.coco is not None)
        meta["model"] = tree_source
        tree = model.tree
        if args.tree and (args.checkpoint or args.model):  # a model carries its tree: a --tree beside it must match
            _same_tree(load_tree(args.tree, args.names), str(args.tree), tree, tree_source)
    else:
        tree, names, tree_source = _evaluated_tree(args, data.world_tree)
    boxed, boxed_src = _boxed_mask(args, tree, data.world_tree) if tree is not None else (None, None)
    meta.update(
        {
            "coco": str(data.coco) if data.coco else None,
            "folders": str(data.folders) if data.folders else None,
            "tree_nodes": len(tree) if tree is not None else None,
            "boxed_from": boxed_src,
        }
    )

    det = None
    if data.coco is not None:
        det = _detection(args, data, model, tree, names, boxed, device, decoding, meta, tree_source=tree_source)
    scored_classes = data.folders is not None or data.class_only is not None
    cls_report = (
        _classification(args, data, model, tree, names, decoding, device, meta, tree_source=tree_source)
        if scored_classes
        else None
    )
    written = ev.write_report(
        args.out,
        detection=det.report if det else None,
        classification=cls_report,
        meta=meta,
        overwrite=args.overwrite,
        plots=args.plots,
        inputs=_inputs(args),
        groups=det.groups if det else None,
        coarse=det.coarse if det else None,
    )
    _print_summary(args, data, det, cls_report, written)
    if "voc" in meta:
        ap07, ap10 = (meta["voc"][k] for k in ("mAP_voc07", "mAP_voc2010"))
        shown = ["n/a" if v is None else f"{v:.4f}" for v in (ap07, ap10)]
        print(f"VOC mAP50: VOC07 11-point {shown[0]}, VOC2010+ all-point {shown[1]} (summary.json: meta.voc)")
    return 0


def _classification(
    args: argparse.Namespace,
    data: _Data,
    model: DetectionModel | None,
    tree: WordTree | None,
    names: Sequence[str] | None,
    decoding: DecodeOptions,
    device: str,
    meta: dict[str, Any],
    tree_source: str | None = None,
) -> ClassificationReport:
    """Top-k and the hierarchical measures on the class folders, of the model or of --predictions (the records of
    `yolo9000 classify`, their walks stopped again at a --hier-thresh given); the settings that applied go into
    `meta`."""
    from yolo9000 import evaluation as ev
    from yolo9000.inference.export import input_size

    if args.predictions is not None:
        assert data.folders is not None  # _resolve_data: --predictions classifies only on --folders
        return _class_records(args, data.folders, tree, names, meta, tree_source)
    if not isinstance(model, DarknetModel):  # an exported --model is refused with --folders
        raise ValueError("--folders needs a model to classify the images (--checkpoint or --cfg)")
    what: Path | LabelledPictures
    if data.folders is not None:
        what = data.folders
    else:
        assert data.class_only is not None and data.coco is not None  # run() classifies only with one of them
        what = _class_only_pictures(data.class_only, data.coco, tree, names)
    cp = ev.predict_classification(
        model,
        what,
        decoding,
        size=args.size,
        batch_size=args.batch_size,
        device=device,
        names=names,
        workers=args.workers,
        exif=not args.ignore_exif,
        progress=args.progress,
    )
    meta.setdefault("hier_thresh", decoding.hier_thresh)  # the class walk's; a detection run set it already
    meta.setdefault("size", list(input_size(model, args.size)))
    meta.setdefault("device", device)
    return ev.classification_summary(cp, tree)


def _class_records(
    args: argparse.Namespace,
    folders: Path,
    tree: WordTree | None,
    names: Sequence[str] | None,
    meta: dict[str, Any],
    tree_source: str | None,
) -> ClassificationReport:
    """The records of `yolo9000 classify` in --predictions scored on the class folders, no model run: labelled by
    --tree (or a model's tree), a flat model's by --names (else the names the records give). A tree's records are
    scored where classify's walk stopped, or, with --hier-thresh given (not defaulted), where each record's walk
    stops at it.
    `meta` gets the hier-thresh that applied (classify's when its output folder recorded it)."""
    from yolo9000 import evaluation as ev

    if tree is None and names is None and args.names:
        names = read_names(args.names)
    hier_given = options.given(args, "hier_thresh")
    restop = hier_given and tree is not None
    if hier_given and tree is None:
        log.warning("--hier-thresh is not applied: %s holds a flat classifier's records (no walk)", args.predictions)
    records = ev.read_class_predictions(
        args.predictions,
        folders,
        tree=tree,
        names=names,
        tree_source=tree_source,
        hier_thresh=args.hier_thresh if restop else None,
    )
    made = _classify_settings(args.predictions)
    if restop:
        meta["hier_thresh"] = args.hier_thresh
    elif "hier_thresh" in made:
        meta["hier_thresh"] = made["hier_thresh"]
    return ev.records_summary(records, tree)


def _classify_settings(predictions: Path) -> dict[str, Any]:
    """The settings `yolo9000 classify` kept in the marker of the folder it wrote `predictions` in ({} when that
    folder has no marker of classify's, or the marker does not list the file)."""
    from wordtree.files import read_output_marker
    from yolo9000.inference.classify import COMMAND

    marker = read_output_marker(predictions.parent)
    if marker is None or marker.get("command") != COMMAND or predictions.name not in marker.get("files", []):
        return {}
    return dict(marker.get("settings") or {})


def _check_prediction_kind(predictions: Path, *, classes: bool) -> None:
    """Refuse a predictions file of the other command, by its first record: classify's records with --coco,
    detections with --folders."""
    from yolo9000 import evaluation as ev

    kind = ev.prediction_kind(predictions)
    if classes and kind == "detect":
        raise ValueError(
            f"{predictions}: holds detections (of `yolo9000 detect`, or COCO results), not the records of "
            "`yolo9000 classify`; score detections with --coco, not --folders"
        )
    if not classes and kind == "classify":
        raise ValueError(
            f"{predictions}: holds the records of `yolo9000 classify`, not detections; score them on the class "
            "folders they classified with --folders, not --coco"
        )


def _class_only_pictures(
    path: Path, coco_path: Path, tree: WordTree | None, names: Sequence[str] | None
) -> LabelledPictures:
    """--data's classification-only pictures with the model's classes: the tree node of each picture's category
    (placed as its boxes' categories are), or for a flat model the class of that name."""
    from yolo9000 import evaluation as ev

    pairs = json.loads(path.read_text(encoding="utf-8"))
    coco = ev.load_coco(coco_path)
    ids = ev.category_ids(coco)
    if tree is not None:
        of_category = dict(zip(ids, ev.category_nodes(coco, tree).tolist()))
    else:
        where = {n: i for i, n in enumerate(names or [])}
        missing = [coco.cats[c]["name"] for c in ids if coco.cats[c]["name"] not in where]
        if missing:
            raise ValueError(f"--data: class {missing[0]!r} is not one of the model's class names")
        of_category = {c: where[coco.cats[c]["name"]] for c in ids}
    labels = np.array([of_category[int(c)] for _, c in pairs], dtype=np.int64)
    return ev.LabelledPictures([Path(f) for f, _ in pairs], labels, "--data classification-only pictures")


def _print_summary(
    args: argparse.Namespace,
    data: _Data,
    det: _Detection | None,
    cls_report: ClassificationReport | None,
    written: Sequence[Path],
) -> None:
    """The console's part of the report: the short tables, then one line naming the files with every figure."""
    from yolo9000 import evaluation as ev
    from yolo9000.evaluation.writer import markdown_table

    if det is not None:
        if det.coarse is not None:
            print(
                "mAP on the emoji world's test split: (a), (b) on its fine labels, (c) on its coarse ones; "
                "map = every category scored by objectness x P(category) (Darknet's `detector valid`), walk = one "
                "label per box where the top-down tree walk stops"
            )
        else:
            print(f"detection on {data.shown or data.coco} ({_scoring_words(args)}):")
        print(markdown_table(det.groups, floatfmt="{:.3f}"), end="")
    if cls_report is not None:
        shown = data.folders or f"the classification-only pictures of {data.shown}"
        print(f"classification on {shown}:")
        print(markdown_table(ev.classification_table(cls_report.headline), floatfmt="{:.3f}"), end="")
    print(f"all figures in {args.out}: {_file_names(written)}")


def _scoring_words(args: argparse.Namespace) -> str:
    if args.predictions is not None:
        return f"predictions of {args.predictions}"
    return "map scoring: obj x P(category)" if args.scoring == "map" else "walk scoring: one label per box"


def _file_names(paths: Sequence[Path]) -> str:
    """File names, a .csv and .md pair of one table as "per_class.csv/.md"."""
    names = [p.name for p in paths]
    out = []
    for name in names:
        stem, _, ext = name.rpartition(".")
        if ext == "md" and f"{stem}.csv" in names:
            continue
        out.append(f"{stem}.csv/.md" if ext == "csv" and f"{stem}.md" in names else name)
    return ", ".join(out)


def _flat_to_category(labels: Sequence[int], coco: COCO, names: Sequence[str] | None) -> list[int]:
    """Flat class index -> COCO category id: by name when the model has names, else by id order."""
    cat_ids = sorted(coco.getCatIds())
    if names is not None:
        by_name = {str(coco.cats[c].get("name")): c for c in cat_ids}
        if all(str(n) in by_name for n in names):
            return [by_name[str(names[i])] for i in labels]
    return [cat_ids[i] if 0 <= i < len(cat_ids) else -1 for i in labels]


def _read_category_map(path: Path, coco: COCO, tree: WordTree) -> np.ndarray:
    """Darknet-style .map: line k = tree node of the k-th category by ascending id (coco9k.map's layout)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: category map not found")
    nodes = read_map_indices(path, size=len(tree), count=len(coco.getCatIds()))
    return np.array(nodes, dtype=np.int64)
