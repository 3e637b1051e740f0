"""The training input pipeline of issue 15: torchvision decoding into the uint8 tensor the augmentation resizes,
the same pixels and boxes as the previous PIL + tv_tensors path, the `--decode gpu` batching (run here on the CPU
through the same code), and COCO files streamed into arrays with lazy image-file checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tiny_data as td
import torch
from PIL import Image, ImageOps
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from yolo9000.data import AugmentConfig, CocoDetection, JointDataset, SampleKey
from yolo9000.data.augment import augment, distort_hsv, render_batch
from yolo9000.data.coco_index import _without_polygons, read_coco_index
from yolo9000.data.image_io import apply_orientation, decode_on_device, read_encoded, read_image, to_rgb_array
from yolo9000.data.joint import CLS, DET, EncodedBatch, collate, collate_encoded

# ---------------------------------------------------------------------------------------------- the old path


def _old_read_image(path: Path) -> torch.Tensor:
    """The PIL decoding `read_image` used before (planar copy of an RGB array, EXIF honoured)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return torch.from_numpy(to_rgb_array(im)).permute(2, 0, 1).contiguous()


def _old_place(x, nw, nh, dx, dy, size, fill):
    x = F.resize(x, [nh, nw], antialias=True)
    left, top = max(dx, 0), max(dy, 0)
    right, bottom = max(size - nw - dx, 0), max(size - nh - dy, 0)
    if left or top or right or bottom:
        x = F.pad(x, [left, top, right, bottom], fill=fill)
    cl, ct = max(-dx, 0), max(-dy, 0)
    if cl or ct or x.shape[-1] != size or x.shape[-2] != size:
        x = F.crop(x, ct, cl, size, size)
    return x


def _old_augment(image, boxes, size, rng, cfg, *, dtype=torch.float32, defer_hsv=False):
    """The tv_tensors augmentation `augment` replaced (its code before issue 15, unchanged)."""
    from yolo9000.data.augment import rand_scale

    h, w = int(image.shape[-2]), int(image.shape[-1])
    n = boxes.shape[0]
    dw, dh = cfg.jitter * w, cfg.jitter * h
    new_ar = (w + rng.uniform(-dw, dw)) / (h + rng.uniform(-dh, dh)) if cfg.jitter > 0 else w / h
    scale = float(rng.uniform(*cfg.scale)) if cfg.scale[1] > cfg.scale[0] else float(cfg.scale[0])
    if new_ar < 1:
        nh, nw = size * scale, size * scale * new_ar
    else:
        nw, nh = size * scale, size * scale / new_ar
    nw_i, nh_i = max(1, int(nw)), max(1, int(nh))
    if cfg.jitter > 0 or cfg.scale != (1.0, 1.0):
        dx = int(rng.uniform(min(0, size - nw_i), max(0, size - nw_i)))
        dy = int(rng.uniform(min(0, size - nh_i), max(0, size - nh_i)))
    else:
        dx, dy = (size - nw_i) // 2, (size - nh_i) // 2
    dhue = rng.uniform(-cfg.hue, cfg.hue) if cfg.hue > 0 else 0.0
    dsat, dexp = rand_scale(rng, cfg.saturation), rand_scale(rng, cfg.exposure)
    flip = cfg.flip and rng.random() < 0.5
    order = torch.from_numpy(rng.permutation(n)) if (cfg.shuffle_boxes and n > 1) else torch.arange(n)
    img = F.resize(tv_tensors.Image(image), [nh_i, nw_i], antialias=True).as_subclass(torch.Tensor)
    fill = 0.5
    if defer_hsv and dtype == torch.uint8:
        fill = 128.0
    else:
        img = img.float().div_(255)
        if not defer_hsv:
            img = distort_hsv(img, dhue, dsat, dexp)
            fill = min(1.0, 0.5 * dexp)
    img = tv_tensors.Image(img)
    if (nw_i, nh_i) != (size, size) or dx or dy:
        img = _old_place(img, nw_i, nh_i, dx, dy, size, fill)
    bb = tv_tensors.BoundingBoxes(boxes[order].float(), format="XYXY", canvas_size=(h, w))
    bb = _old_place(bb, nw_i, nh_i, dx, dy, size, 0.0)
    if flip:
        img, bb = F.horizontal_flip(img), F.horizontal_flip(bb)
    xyxy = bb.as_subclass(torch.Tensor).clamp(0, size) / size
    wh = xyxy[:, 2:] - xyxy[:, :2]
    keep = (wh[:, 0] >= cfg.min_size) & (wh[:, 1] >= cfg.min_size)
    out = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, wh), dim=1)[keep]
    kept = order[keep]
    if cfg.max_boxes is not None and out.shape[0] > cfg.max_boxes:
        out, kept = out[: cfg.max_boxes], kept[: cfg.max_boxes]
    return img.as_subclass(torch.Tensor).contiguous(), out, kept, torch.tensor([dhue, dsat, dexp])


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields and hard-edged rectangles (what JPEG pictures hold)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    arr = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:h, :w].copy()
    arr[h // 4 : h // 2, w // 3 : w // 2] = (250, 10, 10)
    return arr


def _jpeg(path: Path, arr: np.ndarray, orientation: int = 1) -> Path:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(arr).save(path, quality=92, exif=exif)
    return path


# ---------------------------------------------------------------------------------------------- decoding


def test_jpeg_decodes_as_pil_did_and_stays_channels_last(tmp_path):
    path = _jpeg(tmp_path / "a.jpg", _photo(160, 120))
    new, old = read_image(path), _old_read_image(path)
    assert new.shape == old.shape == (3, 120, 160) and new.dtype == torch.uint8
    assert (new.int() - old.int()).abs().max() <= 1  # both libjpeg-turbo; at most the IDCT's last bit
    assert new.stride() == (1, 160 * 3, 3)  # the decoder's buffer, no planar copy


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_on_both_paths(tmp_path, orientation):
    path = _jpeg(tmp_path / "o.jpg", _photo(48, 32, seed=orientation), orientation)
    want = _old_read_image(path)
    assert torch.equal(read_image(path), want)
    enc = read_encoded(path)
    assert enc.encoded and enc.orientation == orientation and enc.shape == tuple(want.shape)
    (on_device,) = decode_on_device([enc], "cpu")  # the --decode gpu path, on the CPU
    assert on_device is not None and torch.equal(on_device, want)
    stored = read_encoded(path, exif=False)
    assert stored.orientation == 1 and stored.shape == (3, 32, 48)
    assert torch.equal(apply_orientation(read_image(path, exif=False), orientation), want)


def test_non_jpeg_is_decoded_in_the_worker(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_photo(40, 30)).save(path)
    enc = read_encoded(path)
    assert not enc.encoded and enc.shape == (3, 30, 40) and torch.equal(enc.data, read_image(path))
    with pytest.raises(FileNotFoundError, match=r"gone\.jpg: image file not found"):
        read_encoded(tmp_path / "gone.jpg")


# ---------------------------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("seed", range(16))
def test_augment_gives_the_pixels_and_boxes_of_the_previous_path(tmp_path, seed):
    path = _jpeg(tmp_path / "a.jpg", _photo(200, 150, seed=seed))
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 150, (6, 2))
    boxes = torch.tensor(np.concatenate((xy, xy + rng.uniform(2, 60, (6, 2))), axis=1), dtype=torch.float32)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, 200)  # within the picture, as the datasets give them
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, 150)
    cfg = AugmentConfig(jitter=0.3, scale=(0.5, 1.6), max_boxes=4)
    new_img = read_image(path)  # channels-last, from torchvision
    old_img = _old_read_image(path)
    new = augment(new_img, boxes, 96, np.random.default_rng(seed), cfg, dtype=torch.uint8, defer_hsv=True)
    old = _old_augment(old_img, boxes, 96, np.random.default_rng(seed), cfg, dtype=torch.uint8, defer_hsv=True)
    torch.testing.assert_close(new[1], old[1], atol=1e-6, rtol=0)  # boxes
    assert torch.equal(new[2], old[2]) and torch.equal(new[3], old[3].float())  # kept index, HSV draws
    # the same canvas up to the decoders' last bit (the resize and the placement are the same)
    assert (new[0].int() - old[0].int()).abs().max() <= 1
    same_input = augment(old_img, boxes, 96, np.random.default_rng(seed), cfg, dtype=torch.uint8, defer_hsv=True)
    assert torch.equal(same_input[0], old[0])  # from the same pixels: identical
    floats = augment(old_img, boxes, 96, np.random.default_rng(seed), cfg)  # HSV on the CPU, float canvas
    old_floats = _old_augment(old_img, boxes, 96, np.random.default_rng(seed), cfg)
    torch.testing.assert_close(floats[0], old_floats[0], atol=1e-6, rtol=0)


def test_boxes_follow_the_drawn_region_through_the_dataset(tmp_path):
    """A red rectangle in a JPEG, its COCO box: after loading and augmenting, the box holds the red pixels."""
    root = tmp_path / "det"
    (root / "images").mkdir(parents=True)
    arr = np.full((120, 160, 3), 110, np.uint8)
    arr[30:90, 50:130] = (250, 10, 10)
    _jpeg(root / "images" / "a.jpg", arr)
    ann = {"id": 1, "image_id": 1, "category_id": 3, "bbox": [50, 30, 80, 60]}
    data = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [ann], "categories": td.DET_CATEGORIES}
    (root / "annotations.json").write_text(json.dumps(data))
    joint = JointDataset(CocoDetection(root / "annotations.json", None, td.make_tree()), None, AugmentConfig())
    cfg_geometry = AugmentConfig(jitter=0.3, hue=0.0, saturation=1.0, exposure=1.0, scale=(0.6, 1.4))
    joint.augment_cfg = cfg_geometry
    for seed in range(8):
        out = joint[SampleKey(DET, 0, 96, seed)]
        if len(out["boxes"]) == 0:
            continue
        cx, cy, w, h = (out["boxes"][0] * 96).tolist()
        red = (out["image"][0] > 0.75) & (out["image"][1] < 0.3)
        ys, xs = torch.nonzero(red, as_tuple=True)
        assert abs(xs.min().item() - (cx - w / 2)) <= 1.5 and abs(xs.max().item() + 1 - (cx + w / 2)) <= 1.5
        assert abs(ys.min().item() - (cy - h / 2)) <= 1.5 and abs(ys.max().item() + 1 - (cy + h / 2)) <= 1.5


# ---------------------------------------------------------------------------------------------- --decode gpu


def _jpeg_coco(root: Path, n: int = 5) -> Path:
    """COCO data with JPEG pictures (one EXIF-turned, one PNG that the device path decodes in the worker)."""
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        name = f"{i}.png" if i == n - 1 else f"{i}.jpg"
        arr = _photo(96 + 8 * i, 72, seed=i)
        if name.endswith(".png"):
            Image.fromarray(arr).save(root / "images" / name)
        else:
            _jpeg(root / "images" / name, arr, orientation=6 if i == 1 else 1)
        images.append({"id": i + 1, "file_name": name})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 3, "bbox": [10, 8, 40, 30]})
    data = {"images": images, "annotations": anns, "categories": td.DET_CATEGORIES}
    (root / "annotations.json").write_text(json.dumps(data))
    return root / "annotations.json"


def _datasets(tmp_path):
    tree = td.make_tree()
    det = CocoDetection(_jpeg_coco(tmp_path / "det"), None, tree)
    folders = td.make_folders(tmp_path / "cls", per_class=1)
    from yolo9000.data import ClassFolders

    for png in folders.rglob("*.png"):  # class pictures as JPEGs too
        Image.open(png).convert("RGB").save(png.with_suffix(".jpg"), quality=90)
        png.unlink()
    return det, ClassFolders(folders, tree)


def test_gpu_decode_batches_give_the_cpu_loader_batch(tmp_path):
    det, cls = _datasets(tmp_path)
    kw = dict(dtype=torch.uint8, defer_hsv=True)
    cpu = JointDataset(det, cls, AugmentConfig(), **kw)
    gpu = JointDataset(det, cls, AugmentConfig(), decode="gpu", **kw)
    keys = [SampleKey(DET, i, 64, 100 + i) for i in range(len(det))] + [SampleKey(CLS, 0, 64, 7)]
    images, targets, hsv = collate([cpu[k] for k in keys])
    encoded, etargets, ehsv = collate_encoded([gpu[k] for k in keys])
    assert isinstance(encoded, EncodedBatch) and len(encoded) == len(keys)
    assert [p.encoded for p in encoded.pictures] == [True] * (len(det) - 1) + [False, True]
    assert torch.equal(hsv, ehsv)
    for f in ("boxes", "nodes", "valid", "is_cls", "label"):
        assert torch.equal(getattr(targets, f), getattr(etargets, f)), f
    rendered = encoded.render("cpu", etargets)  # the device path, run on the CPU
    assert rendered.shape == images.shape and rendered.dtype == torch.uint8
    assert torch.equal(rendered, images)
    assert etargets.valid[:-1].any(dim=1).all() and etargets.is_cls[-1]  # nothing failed, nothing dropped


def test_an_undecodable_jpeg_in_a_gpu_batch_is_left_grey_without_boxes(tmp_path, caplog):
    det, cls = _datasets(tmp_path)
    gpu = JointDataset(det, cls, AugmentConfig(), decode="gpu", dtype=torch.uint8, defer_hsv=True)
    keys = [SampleKey(DET, 0, 64, 1), SampleKey(DET, 2, 64, 2), SampleKey(CLS, 0, 64, 3)]
    samples = [gpu[k] for k in keys]
    bad = samples[1]["image"]
    bad.data[len(bad.data) // 2 :] = 0  # the header was read; the pixels are damaged
    encoded, targets, _ = collate_encoded(samples)
    assert targets.valid[1].any()
    with caplog.at_level(logging.WARNING):
        images = encoded.render("cpu", targets)
    assert "skipping an undecodable JPEG" in caplog.text
    assert torch.all(images[1] == 128) and not targets.valid[1].any()
    assert not torch.all(images[0] == 128) and targets.valid[0].any()


def test_render_batch_places_decoded_pictures():
    pics = [torch.full((3, 10, 20), 7, dtype=torch.uint8), None]
    rows = torch.tensor([[20, 10, 2, 3, 0], [8, 8, 0, 0, 0]])
    out = render_batch(pics, rows, 16)
    assert out.shape == (2, 3, 16, 16) and torch.all(out[1] == 128)
    assert (
        torch.all(out[0, :, 3:13, 2:16] == 7) and torch.all(out[0, :, :3] == 128) and torch.all(out[0, :, :, :2] == 128)
    )


def test_gpu_decode_falls_back_to_the_cpu_with_one_line(caplog):
    from yolo9000.training.trainer import Trainer

    stub = SimpleNamespace(cfg=SimpleNamespace(decode="gpu"), device=torch.device("cpu"))
    with caplog.at_level(logging.WARNING):
        assert Trainer._decode_mode(stub) == "cpu"  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["--decode gpu: the device is cpu, not CUDA; decoding on the CPU in the loader workers instead"]
    stub.cfg.decode = "cpu"
    assert Trainer._decode_mode(stub) == "cpu"  # type: ignore[arg-type]


def test_decode_option_reaches_the_config(tmp_path):
    from yolo9000.cli import build_parser
    from yolo9000.commands.train import config_from_args

    cfg, _ = config_from_args(build_parser().parse_args(["train", "--decode", "gpu"]))
    assert cfg.decode == "gpu"
    assert config_from_args(build_parser().parse_args(["train"]))[0].decode == "cpu"
    (tmp_path / "c.yaml").write_text("decode: nvjpeg\n")
    with pytest.raises(ValueError, match=r"c\.yaml: option 'decode': expected one of cpu, gpu, got 'nvjpeg'"):
        config_from_args(build_parser().parse_args(["train", "--config", str(tmp_path / "c.yaml")]))


@pytest.mark.slow
def test_training_with_decode_gpu_on_a_cpu_trains(tmp_path, caplog):
    from yolo9000.cli import main

    data = td.make_all(tmp_path / "data")
    with caplog.at_level(logging.WARNING):
        argv = td.train_args(data, tmp_path / "run", "--steps", "1", "--device", "cpu", "--decode", "gpu")
        assert main(argv) == 0
    assert sum("--decode gpu:" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------------------------------------- COCO files


def _coco_with_polygons(path: Path) -> dict:
    rng = np.random.default_rng(0)
    images = [{"id": 10 + i, "file_name": f"{i}.jpg", "width": 96, "height": 72} for i in range(6)]
    anns = []
    for k in range(30):
        poly = [round(float(v), 2) for v in rng.uniform(0, 90, 2 * int(rng.integers(3, 30)))]
        anns.append(
            {
                "segmentation": [poly, poly[:6]] if k % 5 else [[1e-3, -2.5e1, 3, 4, 5, 6]],
                "area": 12.5,
                "iscrowd": 0,
                "image_id": 10 + int(rng.integers(6)),
                "bbox": [float(v) for v in rng.uniform(0, 40, 2)] + [float(v) for v in rng.uniform(1, 40, 2)],
                "category_id": 3 if k % 2 else 7,
                "id": 100 + k,
            }
        )
    anns[4].update(iscrowd=1, segmentation={"counts": 'a[1]{x}\\"segmentation\\": [1', "size": [72, 96]})
    data = {"info": {"note": "[[1, 2]]"}, "images": images, "annotations": anns, "categories": td.DET_CATEGORIES}
    path.write_text(json.dumps(data, indent=1))
    return data


def test_polygons_are_cut_out_in_blocks(tmp_path):
    data = _coco_with_polygons(tmp_path / "a.json")
    for block in (7, 64, 1 << 20):  # blocks that cut keys and polygons anywhere
        got = json.loads(_without_polygons(tmp_path / "a.json", block=block))
        assert got["info"] == data["info"] and got["images"] == data["images"]
        for a, b in zip(got["annotations"], data["annotations"]):
            want = b["segmentation"] if isinstance(b["segmentation"], dict) else []
            assert a == {**b, "segmentation": want}


def test_streamed_index_equals_the_file(tmp_path):
    data = _coco_with_polygons(tmp_path / "a.json")
    index = read_coco_index(tmp_path / "a.json")
    assert index.image_ids.tolist() == [im["id"] for im in data["images"]]
    assert index.files == [im["file_name"] for im in data["images"]]
    np.testing.assert_array_equal(index.sizes, [[96, 72]] * 6)
    anns = data["annotations"]
    assert index.ann_image.tolist() == [a["image_id"] for a in anns]
    assert index.ann_category.tolist() == [a["category_id"] for a in anns]
    assert index.ann_crowd.tolist() == [bool(a["iscrowd"]) for a in anns]
    np.testing.assert_array_equal(index.bbox, [a["bbox"] for a in anns])
    assert index.categories == td.DET_CATEGORIES
    # a file only Python's json reads (NaN outside the boxes) gives the same index through the fallback
    data["annotations"][0]["area"] = float("nan")
    (tmp_path / "b.json").write_text(json.dumps(data))
    again = read_coco_index(tmp_path / "b.json")
    np.testing.assert_array_equal(again.bbox, index.bbox)
    assert again.ann_image.tolist() == index.ann_image.tolist()


def test_detection_index_is_flat_arrays_per_image(tmp_path):
    coco = td.make_coco(tmp_path / "det", n_images=5)
    data = json.loads(coco.read_text())
    ds = CocoDetection(coco, None, td.make_tree())
    assert ds._box_rows.dtype == np.float32 and ds._offsets.tolist()[-1] == len(data["annotations"])
    for i, iid in enumerate(ds.image_ids):
        want = [a["bbox"] for a in data["annotations"] if a["image_id"] == iid]
        got = ds.boxes(i)
        np.testing.assert_allclose(got[:, 2:] - got[:, :2], [b[2:] for b in want])
        assert ds.nodes(i).tolist() == [
            ds.cat_to_node[a["category_id"]] for a in data["annotations"] if a["image_id"] == iid
        ]


def test_image_files_are_checked_lazily(tmp_path, caplog, monkeypatch):
    coco = td.make_coco(tmp_path / "det", n_images=8)
    images = coco.parent / "images"
    monkeypatch.setattr(CocoDetection, "CHECK_SAMPLE", 4)  # a "large" set: 8 files, 4 sampled
    stats = []
    monkeypatch.setattr(Path, "is_file", lambda self, _f=Path.is_file: stats.append(self) or _f(self))
    ds = CocoDetection(coco, None, td.make_tree())
    assert len([p for p in stats if p.parent == images]) == 4  # not one stat per listed file
    monkeypatch.undo()
    monkeypatch.setattr(CocoDetection, "CHECK_SAMPLE", 4)
    gone = [ds.path(i) for i in range(len(ds))]
    gone[0].unlink()
    with caplog.at_level(logging.WARNING):
        ds = CocoDetection(coco, None, td.make_tree())
    assert len(ds) == 8  # kept: found missing only when the loader reaches it
    joint = JointDataset(ds, None, AugmentConfig())
    with caplog.at_level(logging.WARNING):
        out = joint[SampleKey(DET, 0, 64, seed=3)]
    assert out["image"].shape == (3, 64, 64) and joint.skipped == 1
    assert "img000.png: image file not found" in caplog.text and "(1 skipped so far)" in caplog.text
    for p in gone[1:7]:  # most of the set gone: refused at start, naming the folder
        p.unlink()
    with pytest.raises(FileNotFoundError, match=r"images: [34] of 4 sampled images of .*annotations\.json are not th"):
        CocoDetection(coco, None, td.make_tree())


def test_json_is_read_once_without_json_load(tmp_path, monkeypatch):
    coco = td.make_coco(tmp_path / "det", n_images=3)
    monkeypatch.setattr(json, "load", lambda *a, **k: pytest.fail("the whole file was loaded"))
    assert len(CocoDetection(coco, None, td.make_tree())) == 3


def test_skip_empty_and_annotations_without_id(tmp_path):
    coco = td.make_coco(tmp_path / "det", n_images=4)
    data = json.loads(coco.read_text())
    for a in data["annotations"]:
        if a["image_id"] == 2:
            a["iscrowd"] = 1  # image 2 keeps no usable box
    del data["annotations"][0]["id"]  # COCO allows it; the reader does not need it
    coco.write_text(json.dumps(data))
    tree = td.make_tree()
    assert CocoDetection(coco, None, tree).image_ids == [1, 2, 3, 4]
    ds = CocoDetection(coco, None, tree, skip_empty=True)
    assert ds.image_ids == [1, 3, 4] and ds.files == ["img000.png", "img002.png", "img003.png"]
    for i, iid in enumerate(ds.image_ids):
        want = [a["bbox"] for a in data["annotations"] if a["image_id"] == iid]
        np.testing.assert_allclose(ds.boxes(i)[:, :2], [b[:2] for b in want])


def test_an_image_entry_with_a_bbox_field_is_still_read(tmp_path):
    coco = td.make_coco(tmp_path / "det", n_images=3)
    data = json.loads(coco.read_text())
    data["images"][1]["bbox"] = [0, 0, 1, 1]  # not COCO, but not an annotation either
    coco.write_text(json.dumps(data))
    index = read_coco_index(coco)
    assert index.image_ids.tolist() == [1, 2, 3] and len(index.ann_image) == len(data["annotations"])
