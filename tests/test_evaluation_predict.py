"""yolo9000.evaluation.predict: running a model over the images of a COCO file."""

from __future__ import annotations

import pandas as pd
import pytest
from evaluation_helpers import toy_tree, toy_world

from wordtree import WordTree
from yolo9000.evaluation.coco import load_coco


@pytest.fixture(scope="module")
def tree() -> WordTree:
    return toy_tree()


def test_unreadable_images_are_skipped_and_logged(tree, tmp_path, caplog):
    from yolo9000.evaluation import predict_detections

    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    (images / "1.png").write_bytes(b"not a png")  # image id 2
    (images / "2.png").unlink()  # image id 3
    from yolo9000.darknet.checkpoint import load_model

    with caplog.at_level("WARNING"):
        preds = predict_detections(load_model(ckpt), load_coco(gt), images, thresh=0.0, workers=1)
    assert set(preds["image_id"]) == {1}
    assert "1.png" in caplog.text and "2.png" in caplog.text
    assert "2 of 3 images could not be read" in caplog.text
    (images / "0.png").unlink()
    with pytest.raises(ValueError, match="none of the 3 images of the COCO file could be read"):
        predict_detections(load_model(ckpt), load_coco(gt), images)
    (images / "1.png").unlink()
    with pytest.raises(FileNotFoundError, match="wrong --images folder"):
        predict_detections(load_model(ckpt), load_coco(gt), images)


def test_decode_options_or_single_fields(tree, tmp_path):
    """`options` and keyword changes of its fields give the same table; the default is eval's .005 threshold."""
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.detection.decode import DecodeOptions
    from yolo9000.evaluation import predict_detections
    from yolo9000.evaluation.predict import EVAL_OPTIONS

    assert EVAL_OPTIONS == DecodeOptions(thresh=0.005)
    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    model, coco = load_model(ckpt), load_coco(gt)
    by_options = predict_detections(model, coco, images, DecodeOptions(thresh=0.0, nms=0.3), workers=0)
    by_fields = predict_detections(model, coco, images, thresh=0.0, nms=0.3, workers=0)
    assert len(by_options) > 0
    pd.testing.assert_frame_equal(by_options, by_fields)
    with pytest.raises(ValueError, match="option 'nms'"):
        predict_detections(model, coco, images, nms=0.0)


def test_predictions_are_the_detectors_that_detect_runs(tree, tmp_path):
    """predict_detections builds the `Detector` of `yolo9000 detect` (raw logits decoded where needed): its table
    holds that detector's detections, and detect's options (tree NMS, the exact letterbox) apply."""
    import torch

    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.data.image_io import read_image
    from yolo9000.evaluation import predict_detections, run_detector
    from yolo9000.evaluation.predict import EVAL_OPTIONS
    from yolo9000.inference.detector import Detector

    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    model, coco = load_model(ckpt), load_coco(gt)
    table = predict_detections(model, coco, images, workers=0)
    detector = Detector(model, None, EVAL_OPTIONS)
    pd.testing.assert_frame_equal(run_detector(detector, coco, images, workers=0), table)
    for img in coco.dataset["images"]:
        (want,) = detector([read_image(images / img["file_name"])])
        rows = table[table["image_id"] == img["id"]]
        assert rows["label"].tolist() == want.nodes.tolist()
        torch.testing.assert_close(torch.tensor(rows["score"].to_numpy()), want.scores.double())
    assert len(predict_detections(model, coco, images, tree_nms=True, workers=0)) <= len(table)
    assert 0 < len(predict_detections(model, coco, images, class_agnostic=True, nms=0.3, workers=0)) < len(table)
    exact = predict_detections(model, coco, images, exact_letterbox=True, workers=0)
    assert len(exact) > 0
