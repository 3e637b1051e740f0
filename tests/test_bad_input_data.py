"""Bad or unusual input data (issue 13, section 2: COCO files and images): each row is an input and what must come
of it, a one-line error naming the file and the problem, or one logged skip; then the pictures that must decode to
the right pixels (16-bit, CMYK, palette with transparency, LA, 1-bit, I, F, EXIF orientation)."""

from __future__ import annotations

import json
import logging
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tiny_data as td
import torch
from PIL import Image

from yolo9000.cli import main
from yolo9000.data import image_io
from yolo9000.data.box_sizes import coco_box_sizes
from yolo9000.data.coco import CocoDetection
from yolo9000.data.image_io import DecodeError, read_image

# pytest resets warning filters per test, so PIL's own note on pictures over 89 megapixels (silenced by image_io
# outside tests) would show up in the summary
pytestmark = [
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data"),
]

# ---------------------------------------------------------------------------------------------- COCO files


def _dup_image_id(d):
    d["images"][1]["id"] = d["images"][0]["id"]


def _dup_ann_id(d):
    d["annotations"][1]["id"] = d["annotations"][0]["id"]


def _bbox(value):
    def edit(d):
        d["annotations"][2]["bbox"] = value

    return edit


def _all_crowd(d):
    for a in d["annotations"]:
        a["iscrowd"] = 1


def _no_annotations(d):
    d["annotations"] = []


def _all_empty(d):
    for a in d["annotations"]:
        a["bbox"][2] = 0.0


def _unknown_image(d):
    d["annotations"][0]["image_id"] = 999


def _set(section: str, k: int, field: str, value):
    def edit(d):
        d[section][k][field] = value

    return edit


# kind, edit of a good file, what the one-line error must say (after the file's name)
COCO_ROWS = [
    ("duplicate image id", _dup_image_id, r"duplicate image id 1 \(images\[0\] and images\[1\]\)"),
    ("duplicate annotation id", _dup_ann_id, r"duplicate annotation id 1 \(annotations\[0\] and annotations\[1\]\)"),
    ("bbox of strings", _bbox(["1", "2", "3", "4"]), r"annotations\[2\] \(id 3\): field 'bbox' must be 4 numbers"),
    ("bbox of 3 numbers", _bbox([1, 2, 3]), r"annotations\[2\] \(id 3\): field 'bbox' must be 4 numbers"),
    ("bbox not a list", _bbox({"x": 1}), r"annotations\[2\] \(id 3\): field 'bbox' must be 4 numbers"),
    ("bbox with a bool", _bbox([1, 2, True, 4]), r"annotations\[2\] \(id 3\): field 'bbox' must be 4 numbers"),
    ("bbox NaN", _bbox([1, 2, math.nan, 4]), r"annotations\[2\] \(id 3\): field 'bbox' has a non-finite value"),
    ("bbox infinite", _bbox([1, 2, 3, math.inf]), r"annotations\[2\] \(id 3\): field 'bbox' has a non-finite value"),
    ("bbox negative width", _bbox([10, 2, -3, 4]), r"annotations\[2\] \(id 3\): field 'bbox' has a negative width"),
    ("unknown image id", _unknown_image, r"annotations\[0\] \(id 1\) refers to unknown image id 999"),
    ("image id a string", _set("images", 2, "id", "3"), r"images\[2\] field 'id' must be an integer, got '3'"),
    ("image_id a string", _set("annotations", 0, "image_id", "1"), r"\(id 1\): field 'image_id' must be an integer"),
    ("image width a string", _set("images", 0, "width", "96"), r"images\[0\] \(id 1\): field 'width' must be a num"),
    ("category_id a string", _set("annotations", 1, "category_id", "7"), r"\(id 2\): field 'category_id' must be"),
    ("category id a string", _set("categories", 0, "id", "x"), r"categories\[0\] field 'id' must be an integer"),
    ("duplicate category id", _set("categories", 1, "id", 3), r"duplicate category id 3 \(categories\[0\] and"),
    ("zero boxes: all crowd", _all_crowd, r"no (usable|ground-truth) boxes"),
    ("zero boxes: no annotations", _no_annotations, r"no (usable|ground-truth) boxes"),
    ("zero boxes: all empty", _all_empty, r"no (usable|ground-truth) boxes"),
]
READERS = ["CocoDetection", "coco_box_sizes", "yolo9000 train --coco", "yolo9000 eval --coco"]


@pytest.fixture()
def good_coco(tmp_path) -> Path:
    return td.make_coco(tmp_path / "det", n_images=4, seed=2)


def _rewrite(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))  # NaN/Infinity as Python's json writes them


def _read_with(reader: str, coco: Path, tmp_path: Path, capsys) -> str:
    """The one-line error `reader` gives for `coco` (a failure when it gives none)."""
    if reader == "CocoDetection":
        with pytest.raises(ValueError) as info:
            CocoDetection(coco, None, td.make_tree())
        return str(info.value)
    if reader == "coco_box_sizes":
        with pytest.raises(ValueError) as info:
            coco_box_sizes(coco)
        return str(info.value)
    if reader == "yolo9000 eval --coco":  # scoring a COCO results list against the file
        pytest.importorskip("pycocotools")
        pred = tmp_path / "results.json"
        pred.write_text(json.dumps([{"image_id": 1, "category_id": 3, "bbox": [1, 1, 10, 10], "score": 0.9}]))
        assert main(["eval", "--predictions", str(pred), "--coco", str(coco), "--out", str(tmp_path / "rep")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) >= 1 and err[-1].startswith("yolo9000 eval: error: "), err
        return err[-1].removeprefix("yolo9000 eval: error: ")
    tree = td.make_tree()
    tree.save(tmp_path / "tree.json")
    cfg = td.make_cfg(tree, tmp_path / "model.cfg")
    argv = ["train", "--coco", str(coco), "--tree", str(tmp_path / "tree.json"), "--cfg", str(cfg)]
    argv += ["--out", str(tmp_path / "run"), "--workers", "0", "--no-tensorboard", "--no-progress"]
    argv += ["--steps", "1", "--device", "cpu"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("yolo9000 train: error: "), err
    return err[-1].removeprefix("yolo9000 train: error: ")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("kind", "edit", "expected"), COCO_ROWS, ids=[r[0] for r in COCO_ROWS])
def test_bad_coco_file_is_a_one_line_error(good_coco, tmp_path, capsys, reader, kind, edit, expected):
    _rewrite(good_coco, edit)
    message = _read_with(reader, good_coco, tmp_path, capsys)
    assert "\n" not in message
    assert message.startswith(str(good_coco) + ": "), message
    assert re.search(expected, message), message


def test_good_coco_file_still_reads(good_coco):
    assert len(CocoDetection(good_coco, None, td.make_tree())) == 4
    assert len(coco_box_sizes(good_coco)) == len(json.loads(good_coco.read_text())["annotations"])


def test_evaluation_reads_coco_through_the_same_checks(good_coco):
    ev = pytest.importorskip("yolo9000.evaluation.coco")
    pytest.importorskip("pycocotools")
    _rewrite(good_coco, _dup_image_id)
    with pytest.raises(ValueError, match=r"annotations\.json: duplicate image id 1"):
        ev.load_coco(good_coco)


# ---------------------------------------------------------------------------------------------- bad images


def _png_header(path: Path, w: int, h: int) -> None:
    """A PNG that claims w x h pixels (grey) but holds almost no data: only its header can be read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def _huge_for_pil(path: Path) -> None:  # over twice PIL's own limit: PIL refuses to open it
    _png_header(path, 20000, 20000)


def _huge(path: Path) -> None:  # over MAX_PIXELS, under PIL's refusal
    _png_header(path, 11000, 10000)


def _not_an_image(path: Path) -> None:
    path.write_bytes(b"hello, this is text")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path, format="PNG")
    path.write_bytes(path.read_bytes()[:60])


# kind, writer, file name, what the error says (after the file's name)
IMAGE_ROWS = [
    ("huge (PIL refuses)", _huge_for_pil, "huge.png", r"image too large \(400000000 pixels; the limit is 100 megapix"),
    ("huge (over MAX_PIXELS)", _huge, "big.png", r"image too large \(11000x10000 pixels; the limit is 100 megapix"),
    ("not an image", _not_an_image, "text.jpg", r"cannot decode image"),
    ("empty file", _empty, "empty.png", r"cannot decode image"),
    ("truncated PNG", _truncated, "cut.png", r"cannot decode image"),
]


@pytest.mark.parametrize(("kind", "write", "name", "expected"), IMAGE_ROWS, ids=[r[0] for r in IMAGE_ROWS])
def test_bad_image_is_a_one_line_error(tmp_path, kind, write, name, expected):
    path = tmp_path / name
    write(path)
    with pytest.raises(DecodeError) as info:
        read_image(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    assert re.search(expected, message), message


def test_max_pixels_is_checked_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (64, 48)).save(path)
    monkeypatch.setattr(image_io, "MAX_PIXELS", 64 * 48 - 1)
    with pytest.raises(DecodeError, match=r"a\.png: image too large \(64x48 pixels"):
        read_image(path)
    monkeypatch.setattr(image_io, "MAX_PIXELS", 64 * 48)
    assert read_image(path).shape == (3, 48, 64)


def test_missing_image_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.png: image file not found"):
        read_image(tmp_path / "nope.png")


# ---------------------------------------------------------------------------------------------- unusual images


def _exif_rotated(path: Path) -> None:
    """A 6x4 JPEG, white at stored (row 0, col 0), tagged Orientation=6 (show turned 90 degrees clockwise)."""
    im = Image.new("RGB", (6, 4), (0, 0, 0))
    for x in range(2):
        for y in range(2):
            im.putpixel((x, y), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, exif=exif, quality=100, subsampling=0)


def _grey16(path: Path) -> None:
    a = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(a).save(path)


_RNG16 = np.random.default_rng(16)
_PNG16 = {  # PNG colour type: 16-bit samples (H, W, channels), written by hand (PIL cannot write them all)
    0: _RNG16.integers(0, 65536, (5, 7, 1), dtype=np.uint16),  # grey
    2: _RNG16.integers(0, 65536, (5, 7, 3), dtype=np.uint16),  # RGB
    4: _RNG16.integers(0, 65536, (5, 7, 2), dtype=np.uint16),  # grey + alpha
    6: _RNG16.integers(0, 65536, (5, 7, 4), dtype=np.uint16),  # RGBA
}


def _png16(colour_type: int):
    def write(path: Path) -> None:
        a = _PNG16[colour_type]
        h, w = a.shape[:2]

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))  # filter 0, big-endian samples
        ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
        path.write_bytes(
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
        )

    return write


def _png16_expected(colour_type: int) -> np.ndarray:
    top = (_PNG16[colour_type] >> 8).astype(np.uint8)  # the top 8 bits of each sample
    return np.repeat(top[..., :1], 3, axis=2) if colour_type in (0, 4) else top[..., :3]


def _corrupt_exif(path: Path) -> None:
    """A JPEG whose EXIF block is cut short: read as the stored pixels (no orientation), not an error."""
    Image.new("RGB", (6, 4), (40, 80, 120)).save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12")


def _cmyk(path: Path) -> None:
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path, quality=100)  # pure red


def _palette_transparent(path: Path) -> None:
    im = Image.new("P", (8, 4), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    for x in range(4):
        im.putpixel((x, 0), 1)
    im.save(path, transparency=0)  # index 0 (red) is transparent: its colour is kept, the alpha dropped


def _mode(mode: str, value):
    def write(path: Path) -> None:
        Image.new(mode, (8, 4), value).save(path)

    return write


def _stored(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# kind, writer, file name, expected (H, W, 3) pixels with exif=True, the same with exif=False, tolerance
CORRECT_ROWS = [
    (
        "16-bit grey PNG",
        _grey16,
        "g16.png",
        lambda p: np.repeat(((np.arange(48 * 64).reshape(48, 64) * 21) >> 8).astype(np.uint8)[..., None], 3, 2),
        None,
        0,
    ),
    ("16-bit RGB PNG", _png16(2), "rgb16.png", lambda p: _png16_expected(2), None, 0),
    ("16-bit grey PNG (hand-written)", _png16(0), "grey16.png", lambda p: _png16_expected(0), None, 0),
    ("16-bit grey+alpha PNG", _png16(4), "ga16.png", lambda p: _png16_expected(4), None, 0),
    ("16-bit RGBA PNG", _png16(6), "rgba16.png", lambda p: _png16_expected(6), None, 0),
    ("JPEG with a corrupt EXIF block", _corrupt_exif, "badexif.jpg", lambda p: _stored(p), None, 0),
    ("CMYK JPEG", _cmyk, "cmyk.jpg", lambda p: np.broadcast_to(np.uint8([255, 0, 0]), (8, 16, 3)), None, 2),
    (
        "palette PNG with transparency",
        _palette_transparent,
        "pal.png",
        lambda p: _palette_expected(),
        None,
        0,
    ),
    ("LA PNG", _mode("LA", (100, 7)), "la.png", lambda p: np.full((4, 8, 3), 100, np.uint8), None, 0),
    ("1-bit PNG", _mode("1", 1), "one.png", lambda p: np.full((4, 8, 3), 255, np.uint8), None, 0),
    ("32-bit I TIFF", _mode("I", 40000), "i.tif", lambda p: np.full((4, 8, 3), 40000 >> 8, np.uint8), None, 0),
    ("float F TIFF [0, 1]", _mode("F", 0.5), "f.tif", lambda p: np.full((4, 8, 3), 128, np.uint8), None, 0),
    ("float F TIFF [0, 255]", _mode("F", 77.0), "f255.tif", lambda p: np.full((4, 8, 3), 77, np.uint8), None, 0),
    (
        "EXIF Orientation=6 JPEG",
        _exif_rotated,
        "rot.jpg",
        lambda p: np.rot90(_stored(p), k=-1),  # turned clockwise: 4 wide, 6 high
        lambda p: _stored(p),  # the stored 6 x 4 pixels, as Darknet reads them
        0,
    ),
]


def _palette_expected() -> np.ndarray:
    out = np.zeros((4, 8, 3), np.uint8)
    out[:] = (255, 0, 0)
    out[0, :4] = (0, 255, 0)
    return out


@pytest.mark.parametrize("exif", [True, False], ids=["exif", "ignore-exif"])
@pytest.mark.parametrize(
    ("kind", "write", "name", "expected", "expected_stored", "tol"), CORRECT_ROWS, ids=[r[0] for r in CORRECT_ROWS]
)
def test_unusual_image_decodes_to_the_right_pixels(tmp_path, exif, kind, write, name, expected, expected_stored, tol):
    path = tmp_path / name
    write(path)
    want = (expected if exif or expected_stored is None else expected_stored)(path)
    got = read_image(path, exif=exif)
    assert got.dtype == torch.uint8 and got.shape == (3, *want.shape[:2])
    diff = np.abs(got.permute(1, 2, 0).numpy().astype(int) - want.astype(int))
    assert diff.max() <= tol, (kind, diff.max())


def test_exif_orientation_swaps_the_size(tmp_path):
    path = tmp_path / "rot.jpg"
    _exif_rotated(path)
    assert read_image(path).shape == (3, 6, 4)
    assert read_image(path, exif=False).shape == (3, 4, 6)
    upright = read_image(path).permute(1, 2, 0).numpy()
    assert upright[0, -1].min() > 200 and upright[-1, 0].max() < 50  # the white corner is now top right


def test_plain_rgb_is_read_as_before(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    for exif in (True, False):
        np.testing.assert_array_equal(read_image(tmp_path / "a.png", exif=exif).permute(1, 2, 0).numpy(), arr)


def test_exif_switch_reaches_the_datasets_and_train_config(tmp_path):
    from yolo9000.cli import build_parser
    from yolo9000.commands.train import config_from_args
    from yolo9000.data.folders import ClassFolders

    root = tmp_path / "cls" / "n90000004"
    root.mkdir(parents=True)
    _exif_rotated(root / "rot.jpg")
    assert ClassFolders(tmp_path / "cls", td.make_tree()).load(0).image.shape == (3, 6, 4)
    assert ClassFolders(tmp_path / "cls", td.make_tree(), exif=False).load(0).image.shape == (3, 4, 6)
    cfg, _ = config_from_args(build_parser().parse_args(["train", "--ignore-exif"]))
    assert cfg.exif is False
    cfg, _ = config_from_args(build_parser().parse_args(["train"]))
    assert cfg.exif is True
    (tmp_path / "c.yaml").write_text("exif: false\n")
    cfg, _ = config_from_args(build_parser().parse_args(["train", "--config", str(tmp_path / "c.yaml")]))
    assert cfg.exif is False


# ---------------------------------------------------------------------------------------------- yolo9000 detect


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    pytest.importorskip("yolo9000.darknet.model")
    from darknet_files import cfg_text, conv, maxpool

    from yolo9000.darknet.model import DarknetModel
    from yolo9000.darknet.weights import save_weights

    d = tmp_path_factory.mktemp("model")
    text = cfg_text(
        conv(8),
        maxpool(),
        conv(8),
        maxpool(),
        maxpool(),
        maxpool(),
        maxpool(),
        conv(2 * (5 + 2), size=1, bn=False, activation="linear"),
        ("region", {"anchors": "0.8,0.9, 1.5,1.2", "bias_match": 1, "classes": 2, "coords": 4, "num": 2, "softmax": 1}),
    )
    torch.manual_seed(0)
    (d / "tiny.cfg").write_text(text)
    save_weights(DarknetModel.from_cfg_text(text), d / "tiny.weights")
    (d / "tiny.names").write_text("a\nb\n")
    return d


def _detect(model_dir: Path, out: Path, *inputs, extra=()) -> int:
    argv = ["detect", "--cfg", str(model_dir / "tiny.cfg"), "--weights", str(model_dir / "tiny.weights")]
    argv += ["--names", str(model_dir / "tiny.names"), "--device", "cpu", "--out", str(out), "--quiet", *extra]
    return main(argv + [str(p) for p in inputs])


@pytest.mark.parametrize(("kind", "write", "name", "expected"), IMAGE_ROWS, ids=[r[0] for r in IMAGE_ROWS])
def test_detect_skips_a_bad_image_in_a_folder_with_one_warning(
    tiny_detector, tmp_path, capsys, caplog, kind, write, name, expected
):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(folder / "good.png")
    write(folder / name)
    with caplog.at_level(logging.WARNING):
        assert _detect(tiny_detector, tmp_path / "out", folder) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and name in r.getMessage()]
    assert len(warned) == 1 and warned[0].endswith(", skipped"), warned
    assert re.search(expected, warned[0]), warned[0]
    printed = [line for line in capsys.readouterr().err.splitlines() if name in line]
    assert len(printed) == 1 and re.search(expected, printed[0]), printed  # the run's list of skipped inputs
    rows = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["good.png"]


def test_detect_honours_exif_unless_told_not_to(tiny_detector, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _exif_rotated(photos / "rot.jpg")
    sizes = {}
    for name, extra in (("upright", ()), ("stored", ("--ignore-exif",))):
        assert _detect(tiny_detector, tmp_path / name, photos, extra=extra) == 0
        (row,) = [json.loads(line) for line in (tmp_path / name / "detections.jsonl").read_text().splitlines()]
        sizes[name] = (row["width"], row["height"])
    assert sizes == {"upright": (4, 6), "stored": (6, 4)}


def test_eval_accepts_ignore_exif():
    from yolo9000.cli import build_parser

    assert build_parser().parse_args(["eval", "--ignore-exif"]).ignore_exif is True
    assert build_parser().parse_args(["eval"]).ignore_exif is False


# ---------------------------------------------------------------------------------------------- logged skips


def _eval_results(coco: Path, tmp_path: Path) -> int:
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps([{"image_id": 1, "category_id": 3, "bbox": [1, 1, 10, 10], "score": 0.9}]))
    argv = ["eval", "--predictions", str(pred), "--coco", str(coco), "--out", str(tmp_path / "rep"), "--no-plots"]
    return main(argv)


def _drop_ann_id(d):
    del d["annotations"][0]["id"]


def _flat_box(d):
    d["annotations"][0]["bbox"][3] = 0.0


# kind, edit of a good file, the one warning line `yolo9000 eval` logs (it scores the rest, exit 0)
EVAL_WARN_ROWS = [
    ("annotation without id", _drop_ann_id, r"annotations\.json: 1 annotation\(s\) without an 'id' got ids from \d+"),
    ("zero-size ground-truth box", _flat_box, r"annotations\.json: 1 box\(es\) with zero width or height; no detect"),
]


@pytest.mark.parametrize(("kind", "edit", "expected"), EVAL_WARN_ROWS, ids=[r[0] for r in EVAL_WARN_ROWS])
def test_eval_scores_a_coco_file_with_one_warning(good_coco, tmp_path, caplog, kind, edit, expected):
    pytest.importorskip("pycocotools")
    _rewrite(good_coco, edit)
    with caplog.at_level(logging.WARNING):
        assert _eval_results(good_coco, tmp_path) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and re.search(expected, warned[0]), warned
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["detection"]["AP50"] is not None


def test_training_loader_skips_a_huge_image_with_one_warning(good_coco, caplog):
    from yolo9000.data.augment import AugmentConfig
    from yolo9000.data.joint import DET, JointDataset, SampleKey

    ds = CocoDetection(good_coco, None, td.make_tree())
    _huge(ds.path(0))  # the file of image 0 becomes a 110-megapixel PNG header
    joint = JointDataset(ds, None, AugmentConfig())
    with caplog.at_level(logging.WARNING):
        out = joint[SampleKey(DET, 0, 64, seed=3)]
    assert out["image"].shape == (3, 64, 64)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and re.search(r"img000\.png: image too large \(11000x10000 pixels", warned[0]), warned


def test_detect_skips_an_animation_over_the_limit(tiny_detector, tmp_path, caplog, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (32, 24), (90, 120, 150)).save(folder / "good.png")
    frames = [Image.new("RGB", (40, 30), (80 * k, 40, 200 - 60 * k)) for k in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    monkeypatch.setattr(image_io, "MAX_PIXELS", 40 * 30 - 1)
    with caplog.at_level(logging.WARNING):
        assert _detect(tiny_detector, tmp_path / "out", folder / "good.png", folder / "anim.gif") == 0  # a video
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "anim.gif" in r.getMessage()]
    assert len(warned) == 1 and re.search(r"anim\.gif: frames too large \(40x30 pixels; the limit", warned[0]), warned
