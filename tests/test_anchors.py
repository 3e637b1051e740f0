"""Anchor k-means (1 - IoU distance), COCO box loading and the `yolo9000 anchors` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from yolo9000.cli import main
from yolo9000.data.box_sizes import coco_box_sizes
from yolo9000.detection.anchors import anchor_table, grid_sizes, kmeans_anchors, mean_iou


def clustered(rng, centres, n_each=150, noise=0.04):
    out = [np.asarray(c) * np.exp(rng.normal(0, noise, size=(n_each, 2))) for c in centres]
    return np.concatenate(out)


def loop_iou(a, b):
    inter = min(a[0], b[0]) * min(a[1], b[1])
    return inter / (a[0] * a[1] + b[0] * b[1] - inter)


def test_recovers_known_shapes():
    rng = np.random.default_rng(0)
    centres = [(0.6, 0.7), (4.0, 2.0), (2.0, 5.0), (9.0, 9.5)]
    wh = clustered(rng, centres)
    res = kmeans_anchors(wh, 4, seed=1)
    # sorted by area, each close to a true shape
    areas = res.anchors[:, 0] * res.anchors[:, 1]
    assert np.all(np.diff(areas) > 0)
    truth = np.array(sorted(centres, key=lambda c: c[0] * c[1]))
    np.testing.assert_allclose(res.anchors, truth, rtol=0.05)
    assert res.mean_iou > 0.9
    assert res.mean_iou == pytest.approx(mean_iou(wh, res.anchors))


def test_converged_centroids_are_means_of_their_iou_clusters():
    rng = np.random.default_rng(1)
    wh = rng.uniform(0.2, 8.0, size=(300, 2))
    res = kmeans_anchors(wh, 5, seed=0, iters=1000, tol=0)
    # naive reference: assign each box to the anchor with the highest IoU, the anchors are the cluster means
    assign = [max(range(5), key=lambda k: loop_iou(box, res.anchors[k])) for box in wh]
    for k in range(5):
        members = wh[[i for i, a in enumerate(assign) if a == k]]
        assert len(members) > 0
        np.testing.assert_allclose(res.anchors[k], members.mean(0), rtol=1e-5)  # float32 iterations
    best = np.mean([max(loop_iou(b, a) for a in res.anchors) for b in wh])
    assert res.mean_iou == pytest.approx(best)


def test_iou_distance_differs_from_euclidean_on_scale():
    # two small shapes and one big: Euclidean k-means (k=2) would split the big boxes; IoU k-means separates
    # the small square and the small tall shape
    rng = np.random.default_rng(2)
    wh = np.concatenate([clustered(rng, [(0.5, 0.5), (0.5, 1.5)], 200, 0.02), clustered(rng, [(8, 8)], 40, 0.3)])
    res = kmeans_anchors(wh, 3, seed=0)
    assert min(np.abs(res.anchors - [0.5, 1.5]).sum(1)) < 0.1


def test_table_mean_iou_grows_with_k_and_is_deterministic():
    rng = np.random.default_rng(3)
    wh = rng.lognormal(0.5, 0.8, size=(400, 2))
    t = anchor_table(wh, range(1, 7), seed=4)
    assert list(t.index) == [1, 2, 3, 4, 5, 6]
    assert np.all(np.diff(t["mean_iou"].to_numpy()) > 0)
    t2 = anchor_table(wh, range(1, 7), seed=4)
    assert t.equals(t2)
    assert len(t.loc[3, "anchors"].split()) == 3


def test_kmeans_errors():
    with pytest.raises(ValueError, match="distinct box sizes"):
        kmeans_anchors(np.array([[1.0, 1.0], [1.0, 1.0]]), 2)
    with pytest.raises(ValueError, match="k must be"):
        kmeans_anchors(np.array([[1.0, 1.0]]), 0)


def test_grid_sizes_letterbox_and_stretch():
    b = np.array([[100.0, 50.0, 640.0, 480.0]])
    np.testing.assert_allclose(grid_sizes(b, 416), [[100 / 640 * 13, 50 / 640 * 13]])
    np.testing.assert_allclose(grid_sizes(b, 416, letterbox=False), [[100 / 640 * 13, 50 / 480 * 13]])


def write_coco(path, images, annotations):
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]})
    )
    return path


def test_coco_box_sizes_reads_json_and_image_headers(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (320, 200)).save(tmp_path / "imgs" / "b.png")
    js = write_coco(
        tmp_path / "a.json",
        [
            {"id": 1, "file_name": "a.png", "width": 640, "height": 480},
            {"id": 2, "file_name": "b.png"},  # size read from the file
        ],
        [
            {"id": 1, "image_id": 1, "bbox": [0, 0, 64, 48], "category_id": 1},
            {"id": 2, "image_id": 2, "bbox": [5, 5, 32, 20], "category_id": 1},
            {"id": 3, "image_id": 1, "bbox": [0, 0, 0, 10], "category_id": 1},  # empty: skipped
            {"id": 4, "image_id": 1, "bbox": [0, 0, 9, 9], "category_id": 1, "iscrowd": 1},  # crowd: skipped
        ],
    )
    got = coco_box_sizes(js, tmp_path / "imgs")
    np.testing.assert_allclose(got, [[64, 48, 640, 480], [32, 20, 320, 200]])
    with pytest.raises(ValueError, match="image id 2 has no width/height"):
        coco_box_sizes(js)


def test_coco_box_sizes_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        coco_box_sizes(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        coco_box_sizes(bad)
    js = write_coco(
        tmp_path / "u.json", [{"id": 1, "width": 10, "height": 10}], [{"id": 1, "image_id": 7, "bbox": [0, 0, 2, 2]}]
    )
    with pytest.raises(ValueError, match="unknown image id 7"):
        coco_box_sizes(js)
    js = write_coco(tmp_path / "e.json", [{"id": 1, "width": 10, "height": 10}], [])
    with pytest.raises(ValueError, match="no usable boxes"):
        coco_box_sizes(js)


def test_cli_prints_anchors_and_table(tmp_path, capsys):
    rng = np.random.default_rng(5)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 416, "height": 416} for i in range(40)]
    shapes = [(30, 40), (200, 120), (120, 260)]
    anns = []
    for k in range(120):
        w, h = shapes[k % 3]
        anns.append(
            {
                "id": k,
                "image_id": k % 40,
                "category_id": 1,
                "bbox": [1, 1, w * float(rng.uniform(0.95, 1.05)), h * float(rng.uniform(0.95, 1.05))],
            }
        )
    js = write_coco(tmp_path / "train.json", images, anns)
    out = tmp_path / "anchors.json"
    assert main(["anchors", "--coco", str(js), "-k", "3", "--size", "416", "--max-k", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "120 boxes" in text and "anchors = " in text and "num = 3" in text
    line = next(s for s in text.splitlines() if s.startswith("anchors = "))
    vals = np.array([float(v) for v in line.split("=")[1].replace(",", " ").split()]).reshape(3, 2)
    np.testing.assert_allclose(vals, np.array(shapes) / 32, rtol=0.05)  # 416 px image: grid = px / 32
    doc = json.loads(out.read_text())
    assert doc["k"] == 3 and [r["k"] for r in doc["table"]] == [1, 2, 3, 4]
    assert doc["table"][2]["mean_iou"] > 0.9
    # an existing --out is never overwritten silently
    assert main(["anchors", "--coco", str(js), "-k", "3", "--max-k", "0", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["anchors", "--coco", str(tmp_path / "nope.json")]) == 1
    assert "nope.json" in capsys.readouterr().err


def test_cli_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["anchors", "--help"])
    assert "examples:" in capsys.readouterr().out
