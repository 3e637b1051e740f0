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


def test_several_decodings_of_one_network_pass_are_the_separate_runs(tree, tmp_path):
    """run_detector_decodings decodes one pass of the network several ways (eval's walk and per-category map
    scorings): each table is the one a detector with those options gives on its own."""
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.evaluation import run_detector, run_detector_decodings
    from yolo9000.evaluation.predict import EVAL_OPTIONS
    from yolo9000.inference.detector import Detector

    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    model, coco = load_model(ckpt), load_coco(gt)
    decodings = [EVAL_OPTIONS, EVAL_OPTIONS.with_(class_map=(3, 7, 4)), EVAL_OPTIONS.with_(class_map=(1,))]
    tables = run_detector_decodings(Detector(model, None, EVAL_OPTIONS), coco, images, decodings, workers=0)
    assert len(tables) == 3 and all(len(t) for t in tables)
    for options, table in zip(decodings, tables):
        alone = run_detector(Detector(model, None, options), coco, images, workers=0)
        pd.testing.assert_frame_equal(table, alone)
    assert set(tables[1]["label"]) <= {0, 1, 2} and set(tables[2]["label"]) == {0}  # positions in the map


def test_progress_in_a_log_is_lines_and_log_records_stay_whole(tree, tmp_path, capsys, caplog):
    """Not on a terminal (a log, CI), the model run reports a line per tenth of its images; a warning raised
    meanwhile is its own record (tqdm's logging redirect), never glued onto a bar."""
    from yolo9000.darknet.checkpoint import load_model
    from yolo9000.evaluation import predict_detections

    ckpt, gt, images, _ = toy_world(tmp_path, tree)
    (images / "1.png").write_bytes(b"not a png")
    with caplog.at_level("WARNING"):
        predict_detections(load_model(ckpt), load_coco(gt), images, batch_size=1, workers=0, progress=True)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("eval: detect:")]
    assert [ln.split()[2:4] for ln in lines] == [["33%", "1/3"], ["67%", "2/3"], ["100%", "3/3"]], err
    assert lines[-1].startswith("eval: detect: 100% 3/3 images, ")
    assert "\r" not in err and "1 of 3 images could not be read" in caplog.text
