"""Evaluation of a detector (or classifier) on COCO JSON and class folders, with the WordTree measures.

The parts: `coco` (COCO mAP with ancestor crediting), `hierarchy` (top-k and hierarchical measures), `inputs`
(saved predictions; which classes had training boxes), `class_records` (the saved records of `yolo9000 classify`),
`predict` (running a model over a dataset), `writer` (tables and plots) and `summary` (the reports `yolo9000 eval`
writes). The public names are exported here.
"""

from yolo9000.evaluation.class_records import (
    ClassRecords,
    prediction_kind,
    read_class_predictions,
    records_summary,
)
from yolo9000.evaluation.coco import CocoResult, category_ids, category_nodes, evaluate_detections, load_coco
from yolo9000.evaluation.inputs import (
    BOX_GROUPS,
    BOX_MAP_NAMES,
    UNSEEN_GROUPS,
    box_groups,
    boxed_from_file,
    boxed_from_tree,
    read_predictions,
)
from yolo9000.evaluation.predict import (
    ClassPredictions,
    LabelledPictures,
    folder_truth,
    predict_classification,
    predict_detections,
    run_detector,
    run_detector_decodings,
)
from yolo9000.evaluation.summary import (
    GROUP_TITLES,
    ClassificationReport,
    DetectionReport,
    box_hierarchy,
    classification_summary,
    classification_table,
    detection_report,
    group_table,
    headline_table,
    write_report,
)

__all__ = [
    "BOX_GROUPS",
    "GROUP_TITLES",
    "CocoResult",
    "evaluate_detections",
    "BOX_MAP_NAMES",
    "UNSEEN_GROUPS",
    "ClassPredictions",
    "ClassRecords",
    "ClassificationReport",
    "LabelledPictures",
    "DetectionReport",
    "box_groups",
    "box_hierarchy",
    "boxed_from_file",
    "boxed_from_tree",
    "category_ids",
    "category_nodes",
    "classification_summary",
    "classification_table",
    "detection_report",
    "folder_truth",
    "group_table",
    "headline_table",
    "load_coco",
    "predict_classification",
    "predict_detections",
    "prediction_kind",
    "read_class_predictions",
    "read_predictions",
    "records_summary",
    "run_detector",
    "run_detector_decodings",
    "write_report",
]
