"""The reports `yolo9000 eval` writes: detection (COCO mAP per box group, hierarchy of matched boxes) and
classification summaries, tied together from the other modules of `yolo9000.evaluation`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from yolo9000.evaluation.coco import CocoResult, category_ids, category_nodes, evaluate_detections
from yolo9000.evaluation.hierarchy import classification_report, flat_topk
from yolo9000.evaluation.inputs import (
    BOX_GROUPS,
    UNSEEN_GROUPS,
    box_groups,
)
from yolo9000.evaluation.predict import ClassPredictions

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from wordtree.tree import WordTree


@dataclass
class DetectionReport:
    """What `detection_report` measured: the COCO result, the headline numbers (summary.json's "detection"), the
    per-class table, and the accuracy per depth of the boxes matched to ground truth."""

    result: CocoResult
    headline: dict[str, Any]
    per_class: pd.DataFrame
    box_depth: pd.DataFrame | None = None  # accuracy per depth of the boxes matched to ground truth


def box_hierarchy(
    coco_gt: COCO, preds: pd.DataFrame, tree: WordTree, cat_nodes: np.ndarray, iou_threshold: float = 0.5
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Hierarchical measures per ground-truth box: the highest-scoring prediction overlapping it (IoU >=
    `iou_threshold`, any label) is compared with the box's node, as a classifier's answer would be.

    Returns headline numbers (share of boxes found, exact / coarser / finer / wrong branch among them,
    hierarchical P/R/F1, mean tree distance) and the accuracy per depth of the found boxes.
    """
    from yolo9000.evaluation.hierarchy import depth_accuracy, hierarchical_scores, match_to_ground_truth

    anns = [a for a in coco_gt.dataset["annotations"] if not a.get("iscrowd", 0)]
    node_of = dict(zip(category_ids(coco_gt), np.asarray(cat_nodes).tolist()))
    if not anns:
        return {"boxes": 0}, pd.DataFrame()
    gt = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    gt[:, 2:] += gt[:, :2]
    gt_img = np.array([a["image_id"] for a in anns])
    gt_node = np.array([node_of[a["category_id"]] for a in anns], dtype=np.int64)
    match = match_to_ground_truth(
        gt,
        gt_img,
        preds[["x1", "y1", "x2", "y2"]].to_numpy(np.float64),
        preds["image_id"].to_numpy(),
        preds["score"].to_numpy(),
        iou_threshold,
    )
    found = match >= 0
    head: dict[str, Any] = {"boxes": int(len(anns)), "found": float(found.mean())}
    if not found.any():
        return head, pd.DataFrame()
    pred_node = preds["label"].to_numpy(np.int64)[match[found]]
    head.update(hierarchical_scores(tree, pred_node, gt_node[found]))
    head.pop("samples", None)
    return head, depth_accuracy(tree, pred_node, gt_node[found])


def detection_report(
    coco_gt: COCO,
    preds: pd.DataFrame,
    *,
    tree: WordTree | None = None,
    boxed: np.ndarray | None = None,
    cat_nodes: np.ndarray | None = None,
    credit: bool = True,
    max_dets: int = 100,
) -> DetectionReport:
    """mAP, the per-class table, and with a tree the per-box hierarchical measures and the mAP of each
    training-box group (`boxed`: bool over tree nodes, the training box labels), "unseen" being the
    classes that never had a box.

    With a tree and `credit=True` the prediction labels are tree nodes, credited to every category at or
    above them; with `credit=False` they are already COCO category ids (Darknet's per-category scoring),
    the tree then only sorts the categories into groups.
    """
    if tree is not None and cat_nodes is None:
        cat_nodes = category_nodes(coco_gt, tree)
    use_tree = tree if credit else None
    result, _ = evaluate_detections(coco_gt, preds, tree=use_tree, cat_nodes=cat_nodes, max_dets=max_dets)
    per = result.per_class.copy()
    headline: dict[str, Any] = {k: result.stats[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")}
    headline["images"] = len(coco_gt.getImgIds())
    headline["classes_with_gt"] = int((per["n_gt"] > 0).sum())
    box_depth = None
    if tree is not None:
        assert cat_nodes is not None  # looked up above when not given
        per["node"] = cat_nodes
        per["id"] = [tree.ids[n] for n in cat_nodes]  # the node id (a wnid or a user id)
        per["depth"] = tree.depth[cat_nodes]
        if credit:
            headline["per_box"], box_depth = box_hierarchy(coco_gt, preds, tree, cat_nodes)
        if boxed is not None:
            per["group"] = box_groups(tree, cat_nodes, boxed)
            for g in BOX_GROUPS:
                headline[g] = result.subset(per.loc[per["group"] == g, "category_id"])
            # the paper's "classes that never had a box in training"
            headline["unseen"] = result.subset(per.loc[per["group"].isin(UNSEEN_GROUPS), "category_id"])
    return DetectionReport(result, headline, per, box_depth)


@dataclass
class ClassificationReport:
    """What `classification_summary` measured: the headline numbers (summary.json's "classification"), and with a
    tree the accuracy per depth and the histogram of tree distances."""

    headline: dict[str, Any]
    depth: pd.DataFrame | None
    distances: pd.DataFrame | None


def classification_summary(
    cp: ClassPredictions, tree: WordTree | None = None, ks: Sequence[int] = (1, 5)
) -> ClassificationReport:
    """Top-k over leaves and over all nodes, and the hierarchical measures (tree), or plain top-k (flat)."""
    if tree is None:
        head = flat_topk(cp.probs, cp.truth, ks)
        head["samples"] = int(len(cp.truth))
        return ClassificationReport(head, None, None)
    head, depth, dist = classification_report(tree, cp.probs, cp.pred, cp.truth, ks)
    return ClassificationReport(head, depth, dist)


def write_report(
    out_dir: str | Path,
    *,
    detection: DetectionReport | None = None,
    classification: ClassificationReport | None = None,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
    max_curves: int = 40,
    plots: bool = True,
    inputs: Sequence[str | Path | None] = (),
    groups: pd.DataFrame | None = None,
    coarse: DetectionReport | None = None,
) -> list[Path]:
    """Write `summary.json`, `per_class.csv/.md`, `pr_curves.png`, `ap_per_class.png`, and for
    classification `classification.csv/.md`, `depth_accuracy.csv/.md/.png`, `distances.csv/.md`
    (`plots=False` skips the PNGs); `groups` (`group_table`) as `groups.csv/.md` and summary.json's "groups", and a
    `coarse` report (the same pictures at coarse labels) as `per_class_coarse.csv/.md` and its
    "coarse_detection". `out_dir` follows `wordtree.files.prepare_output_dir`: it may be neither nor hold one of
    `inputs`, and `overwrite` (the CLI's --force) never replaces a file the tool did not write."""
    from yolo9000.evaluation import writer as rep

    w = rep.ReportWriter(out_dir, overwrite=overwrite, inputs=inputs, settings=meta)
    names = ["summary.json"]
    if detection is not None:
        names += ["per_class.csv", "per_class.md"] + (["pr_curves.png", "ap_per_class.png"] if plots else [])
    if classification is not None:
        names += ["classification.csv", "classification.md"]
    names += ["groups.csv", "groups.md"] if groups is not None else []
    names += ["per_class_coarse.csv", "per_class_coarse.md"] if coarse is not None else []
    w.check_free(names)
    summary: dict[str, Any] = {"meta": meta or {}}
    if groups is not None:
        summary["groups"] = groups.to_dict(orient="records")
        w.table("groups", groups, title="mAP of all classes and of each box group")
    if detection is not None:
        summary["detection"] = detection.headline
        per = detection.per_class
        w.table("per_class", per, title="Per-class AP (COCO, IoU .50:.95; AP50; AP75)")
        if detection.box_depth is not None and len(detection.box_depth):
            w.table(
                "box_depth_accuracy",
                detection.box_depth,
                title="Boxes found at IoU .5: accuracy of their label per depth",
            )
    if coarse is not None:
        summary["coarse_detection"] = coarse.headline
        w.table("per_class_coarse", coarse.per_class, title="Per-class AP at the coarse labels")
    if detection is not None and plots:
        per, res = detection.per_class, detection.result
        order = np.argsort(-per["n_gt"].to_numpy(), kind="stable")
        groups_of = per["group"].map(GROUP_TITLES).to_numpy()[order] if "group" in per else None
        w.figure(
            "pr_curves.png",
            rep.pr_curve_figure(
                res.recall,
                res.pr50[order],
                per["name"].to_numpy()[order],
                mean=res.pr_all50,
                max_curves=max_curves,
                groups=groups_of,
            ),
        )
        titled = per.assign(group=per["group"].map(GROUP_TITLES)) if "group" in per else per
        w.figure(
            "ap_per_class.png", rep.ap_bar_figure(titled, column="AP50", group="group" if "group" in per else None)
        )
    if classification is not None:
        summary["classification"] = classification.headline
        head = pd.DataFrame([{"measure": k, "value": v} for k, v in classification.headline.items()])
        w.table("classification", head, title="Classification")
        if classification.depth is not None:
            w.table("depth_accuracy", classification.depth, title="Accuracy per depth")
            if plots:
                w.figure("depth_accuracy.png", rep.depth_accuracy_figure(classification.depth))
        if classification.distances is not None:
            w.table("distances", classification.distances.reset_index(), title="Tree distance of predictions")
    w.json("summary.json", summary)
    w.finish()
    return w.written


#: the box groups in the README's terms (the (a), (b), (c) of its emoji-world table), for the console and plots
GROUP_TITLES: dict[str, str] = {
    "all": "all classes",
    "under_boxed": "(a) fine, boxed parent",
    "never_boxed": "(b) never boxed",
    "boxed": "(c) coarse: boxed in training",
    "boxed_below": "above a boxed class",
    "unseen": "(a) + (b): never had a box",
}


def _group_scores(headline: Mapping[str, Any], key: str) -> dict[str, Any]:
    """classes, AP, AP50 of one group of a detection headline ("all": every class with ground truth)."""
    if key == "all":
        return {"classes": headline.get("classes_with_gt", 0), "AP": headline.get("AP"), "AP50": headline.get("AP50")}
    got = headline.get(key)
    return dict(got) if isinstance(got, Mapping) else {"classes": 0}


def _group_rows(fine: Mapping[str, Any], with_coarse: bool, never_boxed: str | None) -> list[tuple[str, str, str]]:
    """(title, "fine" or "coarse", group key) of each row the short table may show, in order."""
    t = GROUP_TITLES
    b_title = f"(b) {never_boxed}" if never_boxed else t["never_boxed"]
    if with_coarse:  # the README's (a), (b), (c): (c) scored at the coarse labels
        return [
            ("all fine classes", "fine", "all"),
            (t["under_boxed"], "fine", "under_boxed"),
            (b_title, "fine", "never_boxed"),
            ("(c) coarse", "coarse", "boxed"),
        ]
    keys = ["all", "under_boxed", "never_boxed", "boxed", "boxed_below"]
    if all(_group_scores(fine, g)["classes"] for g in ("under_boxed", "never_boxed")):
        keys.append("unseen")  # with one of the two empty it repeats the other
    return [(b_title if key == "never_boxed" else t[key], "fine", key) for key in keys]


def group_table(
    reports: Mapping[str, DetectionReport],
    coarse: Mapping[str, DetectionReport] | None = None,
    *,
    never_boxed: str | None = None,
) -> pd.DataFrame:
    """The short table `yolo9000 eval` prints: AP50 and AP of all classes and of each box group that has classes,
    named in the README's terms; a pair of columns per scoring (the keys of `reports`: "walk", "map"), named
    after it when there are several.

    With `coarse` (the same pictures scored at the coarse labels, as the emoji world's annotations_coarse.json,
    a report per scoring) the rows are the README's: (a) fine classes whose parent had boxes, (b) the classes of a
    branch that never had a box (`never_boxed` names them: "never-boxed insects"), (c) the boxed coarse classes
    scored at the coarse labels. Empty groups are left out."""
    scorings = list(reports)
    first = reports[scorings[0]].headline
    parts: dict[str, Mapping[str, DetectionReport]] = {"fine": reports, "coarse": coarse or {}}
    rows = []
    for title, part, key in _group_rows(first, coarse is not None, never_boxed):
        scores = {s: _group_scores(parts[part][s].headline, key) for s in scorings if s in parts[part]}
        if not scores or not next(iter(scores.values()))["classes"]:
            continue
        row: dict[str, Any] = {"group": title, "classes": int(next(iter(scores.values()))["classes"])}
        for measure in ("AP50", "AP"):
            for s, got in scores.items():
                row[measure if len(scorings) == 1 else f"{measure} {s}"] = got.get(measure)
        rows.append(row)
    return pd.DataFrame(rows)


def classification_table(headline: Mapping[str, Any]) -> pd.DataFrame:
    """The short classification table `yolo9000 eval` prints: images, top-1/top-5 (over the leaves with a tree,
    the classes without) and with a tree the hierarchical F1 and the share of exact answers."""
    names = {
        "samples": "images",
        "top1_leaf": "top-1 (leaves)",
        "top5_leaf": "top-5 (leaves)",
        "top1": "top-1",
        "top5": "top-5",
        "exact": "exact node (tree walk)",
        "hF": "hierarchical F1",
    }
    rows = [(title, headline[key]) for key, title in names.items() if key in headline]
    return pd.DataFrame(rows, columns=["classification", "value"], dtype=object)


def headline_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per headline number (section, measure, value): the whole of summary.json's figures."""
    rows = []
    for section in ("detection", "classification"):
        for k, v in (summary.get(section) or {}).items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    rows.append((section, f"{k}.{kk}", vv))
            else:
                rows.append((section, k, v))
    # object dtype keeps counts as ints next to the float scores
    return pd.DataFrame(rows, columns=["section", "measure", "value"], dtype=object)
