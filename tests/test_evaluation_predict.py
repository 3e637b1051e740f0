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
