"""Inputs of an evaluation besides the ground truth: saved predictions, and which classes had training boxes.

- `read_predictions` reads the JSON lines of `yolo9000 detect` (or a COCO results list) into the table the
  metric code scores (`yolo9000.evaluation.coco.PRED_COLUMNS`).
- `boxed_from_file` / `boxed_from_tree` find the tree nodes that were box labels in training (a Darknet
  `.map`, a training COCO JSON, a tree with a detection label map, a wnid list), and `box_groups` sorts the
  evaluated categories by them: the "never had a box" classes are the paper's 156 ImageNet classes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from yolo9000.evaluation.coco import PRED_COLUMNS, category_ids, category_nodes, load_coco

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from wordtree.tree import WordTree

log = logging.getLogger(__name__)

#: label map names that hold box labels, looked for in a training tree when no map is named
BOX_MAP_NAMES = ("detection", "coco", "det", "boxes")

BOX_GROUPS = ("boxed", "boxed_below", "under_boxed", "never_boxed")
UNSEEN_GROUPS = ("under_boxed", "never_boxed")


def box_groups(tree: WordTree, cat_nodes: Sequence[int] | np.ndarray, boxed: np.ndarray) -> np.ndarray:
    """Classify each category node by the training boxes around it (`boxed`: bool over tree nodes, the
    nodes that were box labels):

    - ``boxed``: the category's node itself was a box label;
    - ``boxed_below``: not itself, but a descendant was (a "dog" box is an "animal" box);
    - ``under_boxed``: never boxed, but an ancestor was (a "poodle" under boxed "dog");
    - ``never_boxed``: no box anywhere on its path or below it (a whole branch without boxes).

    The last two are the classes that "never had a box in training" (the paper's 156 classes).
    """
    cat_nodes = np.asarray(cat_nodes, dtype=np.int64)
    boxed = np.asarray(boxed, dtype=bool)
    if boxed.shape != (len(tree),):
        raise ValueError(f"boxed mask has shape {boxed.shape}, expected ({len(tree)},)")
    anc = tree.ancestors  # (N, D+1)
    padded = np.append(boxed, False)  # index -1 -> False
    anc_boxed = padded[anc[:, 1:]].any(axis=1) if anc.shape[1] > 1 else np.zeros(len(tree), bool)
    below = np.zeros(len(tree) + 1, dtype=bool)
    bn = np.flatnonzero(boxed)
    for d in range(1, anc.shape[1]):  # mark every proper ancestor of a boxed node
        below[anc[bn, d]] = True
    below = below[:-1]
    out = np.full(len(cat_nodes), "never_boxed", dtype=object)
    out[anc_boxed[cat_nodes]] = "under_boxed"
    out[below[cat_nodes]] = "boxed_below"
    out[boxed[cat_nodes]] = "boxed"
    return out


def boxed_from_tree(tree: WordTree, map_names: Sequence[str] | None = None) -> np.ndarray | None:
    """Box-label nodes from the label maps a training tree carries (None when it has no such map)."""
    maps = tree.label_maps
    if map_names:
        missing = [m for m in map_names if m not in maps]
        if missing:
            raise ValueError(f"the tree has no label map {missing[0]!r} (it has: {', '.join(sorted(maps)) or 'none'})")
        chosen = list(map_names)
    else:
        chosen = [m for m in maps if m.lower() in BOX_MAP_NAMES]
    if not chosen:
        return None
    mask = np.zeros(len(tree), dtype=bool)
    for m in chosen:
        mask[tree.label_map(m)] = True
    return mask


def boxed_from_file(path: str | Path, tree: WordTree) -> np.ndarray:
    """Box-label nodes from a training file: a Darknet `.map` (node index per line, like coco9k.map),
    a COCO JSON (categories that have at least one box), a tree JSON with a detection label map, or a
    text file of wnids (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training map file not found")
    mask = np.zeros(len(tree), dtype=bool)
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(data, dict) and "annotations" in data:
            coco = load_coco(path)
            used = {a["category_id"] for a in coco.dataset["annotations"]}
            nodes = category_nodes(coco, tree)
            keep = [n for cid, n in zip(category_ids(coco), nodes) if cid in used]
            mask[keep] = True
            return mask
        from wordtree.formats import load_json

        train_tree = load_json(path)
        got = boxed_from_tree(train_tree)
        if got is None:
            raise ValueError(f"{path}: tree has no detection label map ({', '.join(BOX_MAP_NAMES)})")
        wnids = [w for w, b in zip(train_tree.ids, got) if b]
        return _mask_of_wnids(tree, wnids, path)
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ValueError(f"{path}: empty training map")
    if all(ln.lstrip("-").isdigit() for ln in lines):
        idx = np.array([int(ln) for ln in lines])
        bad = np.flatnonzero((idx < 0) | (idx >= len(tree)))
        if len(bad):
            raise ValueError(
                f"{path}: line {bad[0] + 1}: node {idx[bad[0]]} out of range for a tree of {len(tree)} nodes"
            )
        mask[idx] = True
        return mask
    return _mask_of_wnids(tree, [ln.split()[0] for ln in lines], path)


def _mask_of_wnids(tree: WordTree, wnids: Iterable[str], source: str | Path) -> np.ndarray:
    mask = np.zeros(len(tree), dtype=bool)
    for i, w in enumerate(wnids):
        if w not in tree:
            raise ValueError(f"{source}: entry {i + 1}: {w!r} is not a node of the tree")
        mask[tree.index(w)] = True
    return mask


# ---- predictions written by `yolo9000 detect` or in COCO results format ----------------------------
def _image_lookup(coco_gt: COCO) -> dict[str, int]:
    """file_name -> image id, plus the base name and stem where those are unique in the file."""
    look: dict[str, int] = {}
    short: dict[str, set[int]] = {}
    for img in coco_gt.dataset["images"]:
        fn = str(img.get("file_name", "")).replace("\\", "/")
        look.setdefault(fn, img["id"])
        for key in (Path(fn).name, Path(fn).stem):
            short.setdefault(key, set()).add(img["id"])
    for key, ids in short.items():
        if len(ids) == 1:
            look.setdefault(key, next(iter(ids)))
    return look


def read_predictions(
    path: str | Path,
    coco_gt: COCO,
    *,
    tree: WordTree | None = None,
    names: Sequence[str] | None = None,
    tree_source: str | None = None,
) -> pd.DataFrame:
    """Predictions as a table with `PRED_COLUMNS` (label = tree node with a tree, else a category id).

    Accepted: JSON lines from `yolo9000 detect` (one image per line with a "detections" list, or one
    detection per line) matched to ground-truth images by image id or file name; or a COCO results JSON
    list (image_id, category_id, bbox xywh, score). Boxes: "box" (x1 y1 x2 y2) or "bbox" (x y w h).
    Labels: with a tree "node" (an index), "id" (or the older "wnid") or "label" (an index), else "category_id", else
    "name"/"label" through the categories. A record's "tree_fingerprint" (written by `yolo9000 detect`) must be
    that of `tree` (read from `tree_source`); a record without one is checked by its "id" and "name": where they
    are not the tree's node (or `names`' label) at its index, the file is refused at the first mismatch; an
    empty file and non-finite scores or boxes are errors; records of images with no
    detection (detect's lines with an empty "detections" list) are scored as zero detections, with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file not found")
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{path}: empty predictions file (no JSON lines, no COCO results list)")
    records: list[tuple[dict, dict | None, str]] = []  # (detection, image record, where it was read)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: a COCO results file must hold a JSON list")
        if not data:
            raise ValueError(f"{path}: the predictions list is empty")
        records = [(d, None, f"entry {i + 1}") for i, d in enumerate(data)]
        for entry, _, at in records:
            if isinstance(entry, dict):
                _check_fingerprint(entry, tree, f"{path}: {at}", tree_source)
    else:
        for ln, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {ln}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: line {ln}: expected a JSON object")
            _check_fingerprint(rec, tree, f"{path}: line {ln}", tree_source)
            if "detections" in rec:
                if rec.get("error"):
                    continue
                records += [(d, rec, f"line {ln}") for d in rec["detections"] or []]
            else:
                records.append((rec, None, f"line {ln}"))
    look = _image_lookup(coco_gt)
    img_ids = set(coco_gt.getImgIds())
    cat_by_name = {str(c.get("name")): cid for cid, c in coco_gt.cats.items()}
    rows = []
    unmatched: set[str] = set()
    for det, img, at in records:
        where = f"{path}: {at}"
        if not isinstance(det, dict):
            raise ValueError(f"{where}: a detection must be a JSON object")
        src = img if img is not None else det
        image_id = _match_image(src, look, img_ids)
        if image_id is None:
            unmatched.add(str(_image_key(src)))
            continue
        key = "box" if "box" in det else "bbox" if "bbox" in det else None
        if key is None:
            raise ValueError(f"{where}: detection has no 'box' or 'bbox'")
        try:
            a, b, c, d = (float(v) for v in det[key])
            score = float(det["score"])
        except KeyError:
            raise ValueError(f"{where}: detection has no 'score'") from None
        except (TypeError, ValueError):
            raise ValueError(f"{where}: '{key}' must be 4 numbers and 'score' a number") from None
        if not math.isfinite(score):
            raise ValueError(f"{where}: score is {score}, not a finite number")
        if not all(math.isfinite(v) for v in (a, b, c, d)):
            raise ValueError(f"{where}: '{key}' holds a non-finite value ({det[key]})")
        x1, y1, x2, y2 = (a, b, c, d) if key == "box" else (a, b, a + c, b + d)
        unchecked = "tree_fingerprint" not in src  # detect's lines carry one, checked above
        label = _label_of(det, tree, names, cat_by_name, where, check_names=unchecked, tree_source=tree_source)
        rows.append((image_id, x1, y1, x2, y2, score, label))
    if unmatched:
        n = len(unmatched)
        what = (
            "1 image is not in the ground truth and was"
            if n == 1
            else f"{n} images are not in the ground truth and were"
        )
        log.warning("%s: %s skipped (e.g. %s)", path, what, sorted(unmatched)[0])
    if not rows:  # e.g. detect's JSON lines of images where nothing was found: a valid, if poor, answer
        log.warning("%s: no detection on any ground-truth image; scored as zero detections", path)
    frame = pd.DataFrame(rows, columns=list(PRED_COLUMNS))
    return frame.astype({"image_id": np.int64, "label": np.int64})


def _check_fingerprint(rec: dict[str, Any], tree: WordTree | None, where: str, tree_source: str | None) -> None:
    """Refuse a record made with another tree than the evaluated one (its node numbers mean other classes)."""
    fp = rec.get("tree_fingerprint")
    if fp is None:
        return
    if tree is None:
        raise ValueError(
            f"{where}: predictions made with tree {fp}; give that tree (--tree or --checkpoint) to evaluate them"
        )
    if str(fp) != tree.fingerprint:
        src = f" ({tree_source})" if tree_source else ""
        raise ValueError(
            f"{where}: predictions made with tree {fp} but the ground truth is read with tree "
            f"{tree.fingerprint}{src}; run `yolo9000 detect` with the evaluated model or pass its tree"
        )


def _image_key(rec: dict[str, Any]) -> Any:
    for k in ("image_id", "file_name", "image", "file", "path"):
        if k in rec:
            return rec[k]
    return None


def _match_image(rec: dict[str, Any], look: dict[str, int], img_ids: set[int]) -> int | None:
    if "image_id" in rec:
        iid = rec["image_id"]
        if isinstance(iid, (int, np.integer)) or (isinstance(iid, str) and iid.isdigit()):
            if int(iid) in img_ids:
                return int(iid)
        if str(iid) in look:
            return look[str(iid)]
    for k in ("file_name", "image", "file", "path"):
        if k in rec:
            parts = Path(str(rec[k]).replace("\\", "/")).parts
            # longest matching tail first: "run/val/a/1.png" finds the COCO file_name "a/1.png"
            for i in range(len(parts)):
                key = "/".join(parts[i:])
                if key in look:
                    return look[key]
            stem = Path(parts[-1]).stem if parts else ""
            if stem in look:
                return look[stem]
    return None


def _label_of(
    det: dict[str, Any],
    tree: WordTree | None,
    names: Sequence[str] | None,
    cat_by_name: dict[str, int],
    where: str,
    *,
    check_names: bool = False,
    tree_source: str | None = None,
) -> int:
    """A record's label: a tree node with a tree (`_tree_label`), else a COCO category id."""
    if tree is not None:
        return _tree_label(det, tree, names, where, check_names=check_names, tree_source=tree_source)
    if "category_id" in det:
        return int(det["category_id"])
    if "node" in det:
        raise ValueError(f"{where}: the detection names a tree node; give the tree (--tree or --checkpoint)")
    name = det.get("name")
    if name is None and "label" in det and names is not None and 0 <= int(det["label"]) < len(names):
        name = names[int(det["label"])]
    if name is not None and str(name) in cat_by_name:
        return cat_by_name[str(name)]
    raise ValueError(
        f"{where}: cannot map the detection to a category (no 'category_id' and name {name!r} is not a category)"
    )


def _tree_label(
    det: dict[str, Any],
    tree: WordTree,
    names: Sequence[str] | None,
    where: str,
    *,
    check_names: bool,
    tree_source: str | None,
) -> int:
    """The tree node a record names: its index "node", else its id ("id", the key `detect` writes, or the older
    "wnid"), else its index "label". With `check_names` (a record without a tree fingerprint) an index must agree
    with the record's "id" and "name" (`names`: the model's label names, else the tree's): node numbers of another
    tree would be scored as other classes."""
    node_id = det.get("id", det.get("wnid"))
    if "node" not in det and node_id is not None:
        if str(node_id) not in tree:
            raise ValueError(f"{where}: id {node_id} is not a node of the tree")
        return tree.index(str(node_id))
    key = "node" if "node" in det else "label" if "label" in det else None
    if key is None:
        raise ValueError(f"{where}: detection has no 'node', 'id', 'wnid' or 'label'")
    try:
        node = int(det[key])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: '{key}' must be a node index, got {det[key]!r}") from None
    if not 0 <= node < len(tree):
        raise ValueError(f"{where}: {key} {node} out of range for a tree of {len(tree)} nodes")
    if check_names:
        label_names = names if names is not None else tree.names
        for field, said, ours in (("id", node_id, tree.ids[node]), ("name", det.get("name"), label_names[node])):
            if said is not None and str(said) != ours:
                src = f" ({tree_source})" if tree_source else ""
                raise ValueError(
                    f"{where}: {key} {node} is {field} {ours!r} in the evaluated tree{src} but the record says "
                    f"{str(said)!r}; these predictions were made with another tree (give that one with --tree)"
                )
    return node
