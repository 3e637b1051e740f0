"""Pascal VOC year folders (`yolo9000.data.voc`): boxes, classes, difficult flags, splits, the shipped VOC ->
WordNet table, and the one-line errors for bad annotations."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from wordtree.builder import data_dir
from yolo9000.data.coco import coco_table
from yolo9000.data.labelled import BACKGROUND, DETECTION, LabelError, LabelledDataset, check_source
from yolo9000.data.voc import VOC_CLASSES, VocSource, voc_table

#: VOC's names of the classes COCO names otherwise
COCO_NAME = {
    "aeroplane": "airplane",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def _norm(s: str) -> str:
    return s.lower().replace("_", "").replace(" ", "").replace("-", "")


def test_voc_csv_matches_wordnet(graph):
    with open(data_dir() / "voc_wordnet.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == list(range(20))
    assert tuple(r["name"] for r in rows) == VOC_CLASSES
    assert len({r["wnid"] for r in rows}) == 20
    coco = coco_table()
    for r in rows:
        w = r["wnid"]
        assert graph.problem(w) is None, r
        assert graph.name(w) == r["synset"], r  # the synset name matches the wnid's offset
        lemmas = {_norm(x) for x in graph.lemmas[w]}
        name = _norm(r["name"])
        if r["match"] == "lemma":
            assert name in lemmas or name + "s" in lemmas, r  # cow: cattle's lemma "cows"
        else:
            assert r["match"] == "related" and r["note"], r
            assert name not in lemmas, r
        # every VOC class is a COCO class: the same node, so COCO + VOC mixes train one class each
        assert coco[COCO_NAME.get(r["name"], r["name"])] == w, r
    assert voc_table() == {r["name"]: r["wnid"] for r in rows}


def test_voc_classes_place_in_a_wordnet_tree(graph, tmp_path):
    from wordtree.builder import build_wordtree
    from yolo9000.data.labelled import class_nodes

    tree = build_wordtree(sorted(voc_table().values()), graph=graph)
    src = VocSource(make_voc(tmp_path))
    nodes = class_nodes(src.classes, tree)
    assert [tree.ids[n] for n in nodes] == [voc_table()[name] for name in VOC_CLASSES]
    assert check_source(src, tree=tree).problems == []


# --- a tiny year folder ---------------------------------------------------------------------------------------


def voc_xml(size: tuple[int, int] | None, objects, *, root: str = "annotation") -> str:
    """An annotation as VOC writes it, one element a line. objects: (name, (xmin, ymin, xmax, ymax), difficult)."""
    lines = [f"<{root}>", "\t<folder>VOC2007</folder>", "\t<filename>x.jpg</filename>"]
    if size is not None:
        lines += [
            "\t<size>",
            f"\t\t<width>{size[0]}</width>",
            f"\t\t<height>{size[1]}</height>",
            "\t\t<depth>3</depth>",
            "\t</size>",
        ]
    for name, box, diff in objects:
        lines += [
            "\t<object>",
            f"\t\t<name>{name}</name>",
            "\t\t<pose>Left</pose>",
            "\t\t<truncated>0</truncated>",
            f"\t\t<difficult>{diff}</difficult>",
            "\t\t<bndbox>",
        ]
        lines += [f"\t\t\t<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box)]
        lines += ["\t\t</bndbox>", "\t</object>"]
    return "\n".join([*lines, f"</{root}>", ""])


def object_line(text: str, n: int, tag: str = "<object>") -> int:
    """The line of the n-th (1-based) `tag` in text (0 where there is none)."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == tag]
    return found[n - 1] if len(found) >= n else 0


PICTURES = {
    "000001": ((64, 48), [("dog", (1, 1, 32, 24), 0), ("person", (10, 5, 64, 48), 1)]),
    "000002": ((40, 30), [("car", (5, 6, 20, 25), 0)]),
    "000003": ((40, 30), []),
}


def make_voc(root, pictures=PICTURES, splits=None):
    """A VOC2007-like year folder; splits: name -> ids (default trainval 1-2, test 3)."""
    year = root / "VOCdevkit" / "VOC2007"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (year / sub).mkdir(parents=True, exist_ok=True)
    for pid, (size, objects) in pictures.items():
        Image.new("RGB", size, (90, 120, 30)).save(year / "JPEGImages" / f"{pid}.jpg")
        (year / "Annotations" / f"{pid}.xml").write_text(voc_xml(size, objects))
    for name, ids in (splits or {"trainval": ["000001", "000002"], "test": ["000003"]}).items():
        (year / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    (year / "ImageSets" / "Main" / "dog_trainval.txt").write_text("000001  1\n000002 -1\n")  # per-class list
    return year


@pytest.fixture()
def year(tmp_path):
    return make_voc(tmp_path)


def test_reads_boxes_classes_difficult_and_size(year):
    src = VocSource(year)
    assert (src.format, src.split, len(src), src.ids) == ("voc", "trainval", 2, ["000001", "000002"])
    assert [c.name for c in src.classes] == list(VOC_CLASSES) and all(c.node is None for c in src.classes)
    assert src.path(0) == year / "JPEGImages" / "000001.jpg" and src.path(0).is_file()
    lab = src.labels(0)
    # 1-based inclusive pixels -> pixel edges: x1 = xmin - 1, x2 = xmax
    np.testing.assert_array_equal(lab.boxes, [[0, 0, 32, 24], [9, 4, 64, 48]])
    assert lab.classes.tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    assert lab.difficult.tolist() == [False, True]
    assert (lab.normalized, lab.size, lab.label, lab.kind) == (False, (64, 48), -1, DETECTION)
    lab = src.labels(1)
    np.testing.assert_array_equal(lab.boxes, [[4, 5, 20, 25]])
    assert lab.size == (40, 30) and lab.classes.tolist() == [VOC_CLASSES.index("car")]
    assert src.kinds() is None


def test_split_choice_and_background_picture(year):
    test = VocSource(year, "test")
    assert test.split == "test" and test.ids == ["000003"] and test.describe().endswith("(test)")
    assert test.labels(0).kind == BACKGROUND and test.labels(0).size == (40, 30)


def test_check_source_counts(year):
    c = check_source(VocSource(year)).as_dict()
    assert c == {
        "images": 2,
        "boxes": 3,
        "classification_images": 0,
        "background_images": 0,
        "classes": 3,
        "problems": [],
    }
    c = check_source(VocSource(year, "test")).as_dict()
    assert (c["images"], c["background_images"], c["boxes"], c["classes"]) == (1, 1, 0, 0)


def test_dataset_trains_on_pixels_without_difficult_boxes(year):
    ds = LabelledDataset(VocSource(year), np.arange(20) + 100, list(VOC_CLASSES))
    s = ds.load(0)
    assert tuple(s.image.shape) == (3, 48, 64)
    np.testing.assert_array_equal(s.boxes.numpy(), [[0, 0, 32, 24]])
    assert s.nodes.tolist() == [100 + VOC_CLASSES.index("dog")]


def test_one_pixel_past_the_edge_is_clipped(tmp_path):
    year = make_voc(
        tmp_path, {"a": ((40, 30), [("cat", (0, 0, 41, 31), 0), ("cat", (40, 30, 40, 30), 0)])}, {"trainval": ["a"]}
    )
    np.testing.assert_array_equal(VocSource(year).labels(0).boxes, [[0, 0, 40, 30], [39, 29, 40, 30]])


def test_custom_classes_and_other_picture_types(tmp_path):
    year = make_voc(
        tmp_path, {"a": ((40, 30), [("widget", (3, 3, 9, 9), 0), ("gadget", (1, 1, 2, 2), 0)])}, {"trainval": ["a"]}
    )
    (year / "JPEGImages" / "a.jpg").rename(year / "JPEGImages" / "a.png")
    src = VocSource(year, classes=["gadget", "widget"])
    assert [c.name for c in src.classes] == ["gadget", "widget"] and src.labels(0).classes.tolist() == [1, 0]
    assert src.path(0) == year / "JPEGImages" / "a.png"
    with pytest.raises(LabelError, match=r"a\.xml:\d+: object 1 \('widget'\): unknown class 'widget'"):
        VocSource(year).labels(0)
    with pytest.raises(ValueError, match="distinct non-empty names"):
        VocSource(year, classes=["a", "a"])


def test_construction_reads_only_the_split_list(tmp_path):
    year = make_voc(tmp_path)
    for xml in (year / "Annotations").iterdir():
        xml.unlink()
    src = VocSource(year)  # no XML read yet
    with pytest.raises(LabelError, match=r"Annotations/000001\.xml: annotation file not found"):
        src.labels(0)
    c = check_source(src)
    assert c.images == 0 and len(c.problems) == 2 and "000002.xml: annotation file not found" in c.problems[1]


# --- bad input: one line naming the file and line -------------------------------------------------------------

DOG = ("dog", (1, 1, 10, 10), 0)
BAD = {
    "no size": (voc_xml(None, [DOG]), r"bad\.xml: no <size>"),
    "zero size": (voc_xml((0, 30), [DOG]), r"bad\.xml:4: <size> needs a positive integer <width> and <height>"),
    "box outside": (
        voc_xml((40, 30), [DOG, ("cat", (5, 5, 42, 20), 0)]),
        r"bad\.xml:{b2}: object 2 \('cat'\): box \(5, 5, 42, 20\) is outside the 40x30 picture",
    ),
    "negative": (voc_xml((40, 30), [("cat", (-1, 5, 12, 20), 0)]), r"bad\.xml:{b1}: object 1 .*outside the 40x30"),
    "xmin > xmax": (voc_xml((40, 30), [("cat", (15, 5, 12, 20), 0)]), r"bad\.xml:{b1}: .* has xmin > xmax"),
    "unknown class": (
        voc_xml((40, 30), [DOG, DOG, ("dragon", (1, 1, 5, 5), 0)]),
        r"bad\.xml:{o3}: object 3 \('dragon'\): unknown class 'dragon' \(the classes are: aeroplane, ",
    ),
    "no name": (voc_xml((40, 30), [("", (1, 1, 5, 5), 0)]), r"bad\.xml:{o1}: object 1: no <name>"),
    "not a number": (voc_xml((40, 30), [("cat", (1, "x", 5, 5), 0)]), r"bad\.xml:{b1}: object 1 .*numeric <xmin>"),
    "no bndbox": (
        voc_xml((40, 30), [DOG]).replace("<bndbox>", "<box>").replace("</bndbox>", "</box>"),
        r"bad\.xml:{o1}: object 1 \('dog'\): <bndbox> needs",
    ),
    "difficult": (voc_xml((40, 30), [("cat", (1, 1, 5, 5), "maybe")]), r"bad\.xml:{o1}: .*<difficult> must be 0 or 1"),
    "malformed": (
        voc_xml((40, 30), [DOG]).replace("</name>", "</nam>"),
        r"bad\.xml:{o1p1}: malformed XML \(mismatched",
    ),
    "root": (voc_xml((40, 30), [], root="annotations"), r"bad\.xml:1: not a VOC annotation"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_annotation_is_a_label_error_naming_file_and_line(tmp_path, case):
    text, pattern = BAD[case]
    year = make_voc(tmp_path, {"bad": ((40, 30), [])}, {"trainval": ["bad"]})
    (year / "Annotations" / "bad.xml").write_text(text)
    lines = {f"o{n}": object_line(text, n) for n in (1, 2, 3)}
    lines["o1p1"] = lines["o1"] + 1  # the line of the object's <name>
    lines |= {f"b{n}": object_line(text, n, "<bndbox>") for n in (1, 2)}
    with pytest.raises(LabelError, match=pattern.format(**lines)) as err:
        VocSource(year).labels(0)
    assert "\n" not in str(err.value) and str(year / "Annotations" / "bad.xml") in str(err.value)
    assert check_source(VocSource(year)).problems == [str(err.value)]  # listed by `data check`, not raised


def test_missing_split_lists_the_splits_there(year):
    with pytest.raises(
        FileNotFoundError,
        match=r"Main/val\.txt: split list not found \(the splits here are: test, "
        r"trainval\)$",
    ):
        VocSource(year, "val")
    (year / "ImageSets" / "Main" / "trainval.txt").write_text("\n\n")
    with pytest.raises(ValueError, match=r"trainval\.txt: the split list names no pictures"):
        VocSource(year)


def test_not_a_year_folder(year):
    with pytest.raises(FileNotFoundError, match=r"VOCdevkit: no Annotations/ folder.*it holds VOC2007: give one"):
        VocSource(year.parent)
    with pytest.raises(FileNotFoundError, match="VOC year folder not found"):
        VocSource(year / "nope")


def test_open_source_picks_the_voc_reader(year):
    from yolo9000.data.sources import default_val_split, open_source, source_format

    assert source_format(year) == "voc" and default_val_split(year) == "test"
    src = open_source(year, "test")
    assert isinstance(src, VocSource) and src.split == "test"
