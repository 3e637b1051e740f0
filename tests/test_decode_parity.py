"""Detections equal Darknet's own (`get_network_boxes` + `do_nms_sort`) for yolov2 at 416 on the parity test
picture: once from Darknet's region output (decode alone), once through our whole model. Darknet's outputs are
vendored in tests/data/parity; the picture and weights are generated (conftest.py), so nothing here needs ../shared."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo9000.detection.decode import decode

ANCHORS = [[0.57273, 0.677385], [1.87446, 2.06253], [3.33843, 5.47434], [7.88282, 3.52778], [9.77052, 9.16828]]


def flat_region():
    from types import SimpleNamespace

    return SimpleNamespace(anchors=torch.tensor(ANCHORS), classes=80, tree=None)


def triples(det):
    return sorted((int(i), int(k), float(p)) for i, k, p in zip(det.index, det.labels, det.scores))


def reference_triples(run):
    return sorted((d["index"], c, p) for d in run["detections"] for c, p in d["probs"])


def check_run(det, run, box_tol):
    got, want = triples(det), reference_triples(run)
    assert [g[:2] for g in got] == [w[:2] for w in want], "different (prediction, class) pairs survive"
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=1e-4)
    ref_boxes = {d["index"]: d["bbox_xywh"] for d in run["detections"]}
    b = det.boxes.double().numpy()
    w, h = det.image_size
    mine = np.stack(
        [(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h, (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], 1
    )
    ref = np.array([ref_boxes[i] for i in det.index.tolist()], dtype=np.float64).reshape(-1, 4)
    np.testing.assert_allclose(mine, ref, atol=box_tol, rtol=1e-4)  # random weights give boxes up to ~8x the image


@pytest.mark.parametrize("mode", ["darknet", "paper"])
def test_decode_of_darknet_region_output_matches(darknet_reference, mode):
    ref = darknet_reference.detections
    region_out = torch.from_numpy(darknet_reference.region_output)[None]
    size = (ref["image_w"], ref["image_h"])
    for run in ref["runs"]:  # 0.25 and 0.005 (the latter has near-ties; decode still matches exactly)
        (det,) = decode(
            region_out,
            flat_region(),
            thresh=run["thresh"],
            hier_thresh=ref["hier_thresh"],
            nms=ref["nms"],
            mode=mode,
            net_size=(ref["net_w"], ref["net_h"]),
            image_sizes=[size],
            clip=False,
        )
        check_run(det, run, box_tol=2e-5)


def test_model_and_decode_match_darknet_detections(
    darknet_reference, parity_image, yolov2_416_cfg, yolov2_seed0_weights
):
    """PNG -> our exact letterbox -> our model (Darknet's CPU batch norm) -> decode: Darknet's detections."""
    darknet = pytest.importorskip("yolo9000.darknet.model")
    from yolo9000.data.image_io import read_image as load_image
    from yolo9000.inference.detector import Detector

    # the project's yolov2 template at 416 (the same layers as Darknet's yolov2.cfg with width=height=416);
    # the reference comes from Darknet's CPU build
    model = darknet.load_darknet(yolov2_416_cfg, yolov2_seed0_weights, bn_mode="cpu")
    ref = darknet_reference.detections
    assert ref["image"] == parity_image.name
    image = load_image(parity_image)
    detector = Detector(model, thresh=0.25, hier_thresh=0.5, nms=0.45, mode="darknet", exact_letterbox=True, clip=False)
    x = detector.preprocess([image])
    np.testing.assert_allclose(x[0].numpy(), darknet_reference.input, atol=1e-6)
    (det,) = detector([image])
    run = next(r for r in ref["runs"] if r["thresh"] == 0.25)
    check_run(det, run, box_tol=1e-4)
