"""The emoji world generator: determinism, COCO / ImageFolder formats, WordNet classes, the tree, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from yolo9000.emoji.classes import CLASSES, CLUTTER, COARSE, NO_BOX, select_classes
from yolo9000.emoji.render import DEFAULT_FONT, Placed, Scene, default_font_path

pytestmark = pytest.mark.skipif(
    not default_font_path().is_file(),
    reason=f"emoji font not installed ({DEFAULT_FONT}; Debian package fonts-noto-color-emoji)",
)

TINY = dict(n_detection=10, n_classification_per_class=2, n_test=6, image_size=96, cls_image_size=64)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from yolo9000.emoji.world import generate_world

    return generate_world(tmp_path_factory.mktemp("emoji") / "world", seed=3, **TINY)


# ---- the class table -----------------------------------------------------------------------------------
def test_class_table_is_consistent():
    wnids = [c.wnid for c in CLASSES]
    assert len(set(wnids)) == len(wnids), "a wnid is used twice"
    assert len({c.emoji for c in CLASSES}) == len(CLASSES), "an emoji is used twice"
    assert len({c.name for c in CLASSES}) == len(CLASSES)
    assert not set(CLUTTER) & {c.emoji for c in CLASSES}, "a class emoji is also clutter"
    assert {c.coarse for c in CLASSES} == set(COARSE)
    assert NO_BOX and all(not c.boxed for c in CLASSES if c.coarse in NO_BOX)
    core = select_classes("core")
    # the no-box branch has several fine kinds, and every boxed coarse label has at least two
    assert sum(not c.boxed for c in core) >= 4
    for coarse in {c.coarse for c in core}:
        assert sum(c.coarse == coarse for c in core) >= 2, coarse
    with pytest.raises(ValueError, match="unknown emoji class set"):
        select_classes("nope")


def test_every_class_is_a_noun_synset_below_its_coarse_label():
    wn = pytest.importorskip("wordtree.wordnet")
    try:
        graph = wn.noun_graph()  # the builder's parsed WordNet (cached), not NLTK's slow reader
    except (FileNotFoundError, RuntimeError, LookupError) as exc:
        pytest.skip(f"WordNet not available: {exc}")
    fine = {c.wnid for c in CLASSES}
    for c in CLASSES:
        assert graph.problem(c.wnid) is None, graph.problem(c.wnid)
        # the id is the synset the name means (one of its lemmas), not a neighbour's offset
        assert c.name.replace(" ", "_") in graph.lemmas[c.wnid], (c.name, graph.lemmas[c.wnid])
        ancestors = graph.ancestors(c.wnid)
        assert c.coarse_wnid in ancestors, f"{c.name} ({c.wnid}) does not lie below {c.coarse} ({c.coarse_wnid})"
        # fine classes are the leaves of the world: none lies below another, nor below a foreign coarse label
        assert ancestors & fine == {c.wnid}, (c, ancestors & fine)
        assert {w for w in COARSE.values() if w in ancestors} == {c.coarse_wnid}, c
    for name, wnid in COARSE.items():
        assert graph.problem(wnid) is None
        assert any(name in lemma for lemma in graph.lemmas[wnid]), (name, graph.lemmas[wnid])


def test_font_has_every_glyph_in_colour():
    from yolo9000.emoji.render import SpriteBank

    bank = SpriteBank()
    for e in [c.emoji for c in CLASSES] + list(CLUTTER):
        sprite = bank[e]
        arr = np.asarray(sprite)
        assert arr.shape[2] == 4 and min(sprite.size) > 20
        assert (arr[..., 3] > 0).mean() > 0.15, f"{e!r} is nearly empty"


# ---- drawing -------------------------------------------------------------------------------------------
def test_scene_boxes_follow_visible_pixels():
    scene = Scene(np.zeros((40, 50, 3), np.float32))
    solid = Placed(np.full((8, 10, 3), 200, np.float32), np.ones((8, 10), np.float32), x=5, y=7)
    scene.draw(solid, is_object=True)
    # a half-transparent rim does not count as the object; the part outside the canvas is cut off
    rim = np.zeros((6, 6), np.float32)
    rim[1:5, 1:5] = 1.0
    rim[0, :] = 0.3
    scene.draw(Placed(np.full((6, 6, 3), 90, np.float32), rim, x=30, y=0), is_object=True)
    scene.draw(Placed(np.full((6, 6, 3), 90, np.float32), np.ones((6, 6), np.float32), x=47, y=37), is_object=True)
    np.testing.assert_array_equal(scene.boxes(), [[5, 7, 15, 15], [31, 1, 35, 5], [47, 37, 50, 40]])
    assert scene.area == [80, 16, 9]
    # an occluder over the first object's right half shrinks its box; hidden pixels are counted
    occ = Placed(np.zeros((20, 20, 3), np.float32), np.ones((20, 20), np.float32), x=10, y=0)
    assert scene.coverage(occ).tolist() == [40, 0, 0]
    scene.draw(occ)
    np.testing.assert_array_equal(scene.boxes()[0], [5, 7, 10, 15])
    assert scene.visible().tolist() == [40, 16, 9]
    assert scene.image[10, 7].tolist() == [200, 200, 200] and scene.image[10, 12].tolist() == [0, 0, 0]


def test_draw_scene_boxes_lie_on_the_objects():
    from yolo9000.emoji.world import WorldConfig, _bank, draw_scene

    cfg = WorldConfig(seed=1, image_size=128, clutter=0, occlusion=0)
    classes = select_classes("core")
    image, picks, boxes = draw_scene(_bank(None), classes, cfg, "test", 0)
    assert image.size == (128, 128) and len(picks) == len(boxes) >= 1
    assert ((boxes[:, :2] >= 0) & (boxes[:, 2:] <= 128) & (boxes[:, 2:] > boxes[:, :2])).all()
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert (sizes >= 0.15 * 128 * 0.5).all() and (sizes <= 0.5 * 128 * 1.6).all()


# ---- the written world ---------------------------------------------------------------------------------
def test_same_seed_same_bytes(world, tmp_path):
    from yolo9000.emoji.world import generate_world

    again = generate_world(tmp_path / "again", seed=3, **TINY)
    assert _digest(again) == _digest(world)
    other = generate_world(tmp_path / "other", seed=4, **TINY)
    a, b = _digest(other), _digest(world)
    assert a.keys() == b.keys()
    assert a["detection/images/000000.png"] != b["detection/images/000000.png"]


def test_layout_and_manifest(world):
    for rel in (
        "detection/annotations.json",
        "detection_fine/annotations.json",
        "test/annotations.json",
        "test/annotations_coarse.json",
        "wordtree.json",
        "README.md",
        "world.json",
    ):
        assert (world / rel).is_file(), rel
    assert len(list((world / "detection" / "images").glob("*.png"))) == TINY["n_detection"]
    assert len(list((world / "test" / "images").glob("*.png"))) == TINY["n_test"]
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["complete"] and manifest["config"]["seed"] == 3
    assert manifest["counts"]["classification_images"] == 2 * len(select_classes("core"))
    readme = (world / "README.md").read_text()
    assert "seed 3" in readme and "insect" in readme and "n02055803" in readme


def test_coco_files_load_with_pycocotools(world):
    from PIL import Image
    from pycocotools.coco import COCO

    boxed = {c.coarse for c in select_classes("core") if c.boxed}
    det = COCO(str(world / "detection" / "annotations.json"))
    fine = COCO(str(world / "detection_fine" / "annotations.json"))
    test = COCO(str(world / "test" / "annotations.json"))
    coarse_test = COCO(str(world / "test" / "annotations_coarse.json"))
    # detection boxes carry coarse labels only, and never the no-box branch
    assert {c["name"] for c in det.loadCats(det.getCatIds())} == boxed
    assert all(c["wnid"] == COARSE[c["name"]] for c in det.loadCats(det.getCatIds()))
    fine_by_id = {c["id"]: c for c in fine.loadCats(fine.getCatIds())}
    det_by_id = {c["id"]: c for c in det.loadCats(det.getCatIds())}
    # the fine detection file has the same boxes, each relabelled by the fine class below its coarse label
    assert len(det.anns) == len(fine.anns) > 0
    for a, b in zip(det.dataset["annotations"], fine.dataset["annotations"]):
        assert a["bbox"] == b["bbox"] and a["image_id"] == b["image_id"]
        assert fine_by_id[b["category_id"]]["supercategory"] == det_by_id[a["category_id"]]["name"]
    for coco, folder in ((det, "detection"), (test, "test")):
        for img in coco.dataset["images"]:
            path = world / folder / "images" / img["file_name"]
            with Image.open(path) as im:
                assert im.size == (img["width"], img["height"]) == (96, 96) and im.mode == "RGB"
        for a in coco.dataset["annotations"]:
            x, y, w, h = a["bbox"]
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 96 and y + h <= 96
            assert a["area"] == w * h and a["iscrowd"] == 0
    # the test set is boxed at fine labels and includes the no-box branch's categories
    assert {c["name"] for c in test.loadCats(test.getCatIds())} == {c.name for c in select_classes("core")}
    assert [a["bbox"] for a in test.dataset["annotations"]] == [a["bbox"] for a in coarse_test.dataset["annotations"]]
    # a tiny world of 6 test pictures still has boxes
    assert len(test.anns) >= 6


def test_classification_folders_load_with_imagefolder(world):
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(world / "classification"))
    core = select_classes("core")
    assert ds.classes == sorted(c.wnid for c in core)
    assert len(ds) == 2 * len(core)
    image, label = ds[len(ds) - 1]
    assert image.size == (64, 64) and ds.classes[label] == ds.classes[-1]


def test_wordtree_holds_every_label_and_the_label_maps(world):
    from wordtree import WordTree

    tree = WordTree.load(world / "wordtree.json")
    core = select_classes("core")
    for c in core:
        assert c.wnid in tree and c.coarse_wnid in tree
        assert tree.is_ancestor(c.coarse_wnid, c.wnid), c
        assert tree.is_leaf[tree.index(c.wnid)]
    maps = tree.label_maps
    assert set(maps) >= {"detection", "detection_fine", "classification", "test", "test_coarse"}
    assert list(maps["classification"].ids) == sorted(c.wnid for c in core)
    det = json.loads((world / "detection" / "annotations.json").read_text())
    assert list(maps["detection"].ids) == [c["wnid"] for c in det["categories"]]
    assert tree.label_map("test") == [tree.index(c.wnid) for c in core]


def test_ensure_world_caches_by_settings(tmp_path):
    from yolo9000.emoji.world import ensure_world

    a = ensure_world(tmp_path, seed=5, **TINY)
    stamp = (a / "world.json").stat().st_mtime_ns
    assert ensure_world(tmp_path, seed=5, **TINY) == a
    assert (a / "world.json").stat().st_mtime_ns == stamp
    b = ensure_world(tmp_path, seed=6, **TINY)
    assert b != a and b.parent == a.parent == tmp_path
    assert not list(tmp_path.glob(".*tmp*")), "temporary directories left behind"
    with pytest.raises(ValueError, match="unknown setting"):
        ensure_world(tmp_path, n_pictures=3)
    with pytest.raises(ValueError, match="n_test"):
        ensure_world(tmp_path, n_test=0)


def test_refuses_to_overwrite(world, tmp_path):
    from yolo9000.emoji.world import generate_world

    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an emoji world"):
        generate_world(user, seed=3, **TINY)
    assert (user / "notes.txt").read_text() == "keep me"
    # an identical world is kept as is; other settings need force
    assert generate_world(world, seed=3, **TINY) == world
    with pytest.raises(FileExistsError, match="--force"):
        generate_world(world, seed=9, **TINY)


def test_missing_font_is_one_clear_error(tmp_path):
    from yolo9000.emoji.world import generate_world

    with pytest.raises(FileNotFoundError, match="fonts-noto-color-emoji"):
        generate_world(tmp_path / "w", font=tmp_path / "nope.ttf", **TINY)
    assert not (tmp_path / "w").exists()


# ---- the command line ----------------------------------------------------------------------------------
def test_cli_generates_and_reports(tmp_path, capsys):
    from yolo9000.cli import main

    out = tmp_path / "cli"
    args = [
        "emoji-world",
        str(out),
        "--detection",
        "4",
        "--classification-per-class",
        "1",
        "--test",
        "2",
        "--size",
        "64",
        "--cls-size",
        "48",
        "--workers",
        "1",
        "--quiet",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "4 pictures" in text
    assert main(args[:-1] + ["--seed", "2", "--quiet"]) == 1  # other settings, no --force
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert main(["emoji-world", str(tmp_path / "x"), "--font", str(tmp_path / "none.ttf")]) == 1
    assert "fonts-noto-color-emoji" in capsys.readouterr().err


def test_cli_counts_and_progress_lines_in_a_log(tmp_path, capsys):
    """Singular counts ("1 picture"), and progress as lines when the console is not a terminal."""
    from yolo9000.cli import main

    args = ["emoji-world", str(tmp_path / "w"), "--detection", "1", "--classification-per-class", "1"]
    assert main(args + ["--test", "1", "--size", "64", "--cls-size", "48", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "  detection:      1 picture, " in captured.out and "1 pictures" not in captured.out
    progress = [line for line in captured.err.splitlines() if line.startswith("emoji world: ")]
    assert [line.split(",")[0] for line in progress[:2]] == [
        "emoji world: detection: 100% 1/1 picture",
        "emoji world: test: 100% 1/1 picture",
    ]
    assert "\r" not in captured.err


def test_cli_help_has_examples(capsys):
    from yolo9000.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["emoji-world", "--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out


# ---- the model we ship for it --------------------------------------------------------------------------
def test_emoji_model_cfg_builds_a_tree_detector(world):
    torch = pytest.importorskip("torch")
    darknet = pytest.importorskip("yolo9000.darknet.model")
    from wordtree import WordTree
    from yolo9000.emoji.recipe import emoji_model_cfg

    tree = WordTree.load(world / "wordtree.json")
    text = emoji_model_cfg(tree, size=64)
    assert "${" not in text and f"classes={len(tree)}" in text
    assert "filters=8\n" in text and "filters=256\n" in text  # width .5: 16..512 halved
    assert "filters=512\n" in emoji_model_cfg(tree, width=1.0)
    model = darknet.DarknetModel.from_cfg_text(text, tree=tree)
    out = model.region_output(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, model.region.num, 5 + len(tree), 2, 2)
    with pytest.raises(ValueError, match="multiple of 32"):
        emoji_model_cfg(tree, size=100)


# ---- the pipeline on a tiny world ----------------------------------------------------------------------
@pytest.mark.slow
def test_train_and_eval_on_a_tiny_world(world, tmp_path):
    """A few dozen steps through the real CLI on joint data: the pipeline runs and the loss falls."""
    pytest.importorskip("yolo9000.training.trainer")
    pytest.importorskip("yolo9000.commands.eval")
    import pandas as pd

    from yolo9000.cli import main

    run = tmp_path / "run"
    args = [
        "train",
        "--coco",
        str(world / "detection" / "annotations.json"),
        "--folders",
        str(world / "classification"),
        "--tree",
        str(world / "wordtree.json"),
        "--cfg",
        "emoji-tiny",
        "--size",
        "64",
        "--steps",
        "24",
        "--batch",
        "8",
        "--lr",
        "0.005",
        "--burn-in",
        "3",
        "--cls-fraction",
        "0.5",
        "--workers",
        "0",
        "--no-tensorboard",
        "--no-progress",
        "--save-every",
        "24",
        "--val-coco",
        str(world / "test" / "annotations.json"),
        "--val-every",
        "12",
        "--out",
        str(run),
    ]
    assert main(args) == 0
    log = pd.read_csv(run / "log.csv")
    assert len(log) == 24 and log["loss"].notna().all()
    assert log.loc[log["val/AP50"].notna(), "step"].tolist() == [12, 24]
    assert (run / "best.pt").is_file() and (run / "curves.png").is_file()
    # single batches are noisy (a few boxes or none); the median of the last steps is not
    assert log["loss"].tail(10).median() < 0.7 * log["loss"].head(3).mean()
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(run / "last.pt"),
                "--emoji-world",
                str(world),
                "--size",
                "64",
                "--device",
                "cpu",
                "--no-progress",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary, "empty evaluation summary"


def test_emoji_recipe_trains_names_where_the_detector_looks(world, tmp_path, monkeypatch):
    """With no data given, training uses the emoji world and its recipe for class-only pictures; given data,
    YOLO9000's rules (both overridable)."""
    from yolo9000.emoji import recipe
    from yolo9000.training.config import TrainConfig
    from yolo9000.training.trainer import Trainer

    monkeypatch.setattr(recipe, "ensure_world", lambda root=None, **kw: world)
    common = dict(size=64, multiscale=False, workers=0, tensorboard=False, progress=False, device="cpu")
    no_data = TrainConfig(out=str(tmp_path / "a"), **common)
    assert recipe.uses_world(no_data)  # what `yolo9000 train` checks before applying the recipe
    t = Trainer(recipe.training_config(no_data), model_builder=recipe.build_model)
    assert (t.loss_fn.cls_objectness, t.loss_fn.cls_anchor) == ("none", "objectness")
    # validated on the world's test split (fine labels, never trained on), scored as `yolo9000 eval` scores it
    assert t.validator is not None and t.validator.images == world / "test" / "images"
    assert t.validator.metric == "val/AP50" and t.validator.n_images == TINY["n_test"]
    assert t.settings.lr_steps == [1600, 1800]  # the cfg's 2000-step schedule
    short = Trainer(
        recipe.training_config(TrainConfig(out=str(tmp_path / "s"), steps=600, **common)),
        model_builder=recipe.build_model,
    )
    assert short.settings.lr_steps == [480, 540]  # --steps moves the drops with it (80% and 90%)
    given = recipe.training_config(TrainConfig(steps=600, lr_steps=[100, 200], **common))
    assert given.lr_steps == [100, 200]
    mine = recipe.training_config(TrainConfig(val_folders=str(world / "classification"), **common))
    assert mine.val_coco is None  # validation data of the user's own is kept
    assert t.settings.cls_augment.scale == (0.4, 1.0) and t.settings.augment.scale == (1.0, 1.0)
    data = dict(
        coco=str(world / "detection" / "annotations.json"),
        folders=str(world / "classification"),
        tree=str(world / "wordtree.json"),
        cfg="emoji-tiny",
    )
    with pytest.raises(FileNotFoundError, match="emoji-tiny"):  # the trainer itself knows no example world
        Trainer(TrainConfig(out=str(tmp_path / "b"), **data, **common))
    assert not recipe.uses_world(TrainConfig(**data))
    t = Trainer(TrainConfig(out=str(tmp_path / "b"), **data, **common), model_builder=recipe.build_model)
    assert (t.loss_fn.cls_objectness, t.loss_fn.cls_anchor) == ("paper", "label")
    assert t.settings.cls_augment.scale == (1.0, 1.0)
    t = Trainer(
        TrainConfig(out=str(tmp_path / "c"), cls_anchor="objectness", **data, **common),
        model_builder=recipe.build_model,
    )
    assert t.loss_fn.cls_anchor == "objectness"


def test_world_containing_finds_the_world_of_a_recipe_config(world, tmp_path):
    """`yolo9000 detect` with no inputs uses the test pictures of the world a run was trained on: the recipe
    writes the world's own file paths into the run's config, and `world_containing` finds the world again."""
    from yolo9000.emoji.world import world_containing

    assert world_containing(world / "classification") == world.resolve()
    assert world_containing(world / "detection" / "annotations.json") == world.resolve()
    assert world_containing(tmp_path / "mine" / "annotations.json") is None


# ---- the habitat taxonomy: the same pictures under a hierarchy that is not WordNet's ---------------------------
def test_habitat_world_same_pictures_user_hierarchy(world, tmp_path):
    import csv

    from wordtree import WordTree
    from wordtree.builder import build
    from wordtree.hierarchy import read_csv, resolve
    from yolo9000.emoji.classes import coarse_of, fine_id
    from yolo9000.emoji.world import WorldConfig, generate_world

    hab = generate_world(tmp_path / "habitat", seed=3, taxonomy="habitat", **TINY)
    assert WorldConfig(seed=3, **TINY).key() == json.loads((world / "world.json").read_text())["key"]  # unchanged
    # the same pictures as the WordNet world; only labels, folders and tree differ
    for rel in ("detection/images/000000.png", "test/images/000005.png"):
        assert (hab / rel).read_bytes() == (world / rel).read_bytes()
    core = select_classes("core")
    rows = list(csv.reader((hab / "hierarchy.csv").open(encoding="utf-8")))
    assert rows[0] == ["id", "parent", "name"] and ["penguin", "water-animals", "penguin"] in rows
    tree = WordTree.load(hab / "wordtree.json")
    assert not tree.is_wordnet.any()
    built, _ = build([], user=resolve([read_csv(hab / "hierarchy.csv")]))
    assert built.ids == tree.ids and built.parent.tolist() == tree.parent.tolist()
    # coarse boxes at custom inner nodes, fine class folders named by id, one branch never boxed
    det = json.loads((hab / "detection" / "annotations.json").read_text())
    assert {c["node"] for c in det["categories"]} <= {tree.ids[i] for i in np.flatnonzero(~tree.is_leaf)}
    assert "minibeasts" not in {c["node"] for c in det["categories"]}
    assert sorted(p.name for p in (hab / "classification").iterdir()) == sorted(fine_id(c, "habitat") for c in core)
    for c in core:
        assert tree.is_ancestor(coarse_of(c, "habitat").replace(" ", "-"), fine_id(c, "habitat"))
    assert {tree.names[i] for i in tree.children("minibeasts")} == {c.name for c in core if not c.boxed}
    coarse = json.loads((hab / "test" / "annotations_coarse.json").read_text())["categories"]
    assert [c["name"] for c in coarse if c["supercategory"] == "no-box"] == ["minibeasts"]
    assert "minibeasts" in (hab / "README.md").read_text()


# ---- `yolo9000 train --world`: the world you generated, and the default run run again ---------------------
#: a budget of a few seconds for `yolo9000 train` on a tiny world
QUICK_TRAIN = ("--steps", "2", "--batch", "2", "--size", "64", "--no-multiscale", "--workers", "0", "--device", "cpu")
QUICK_TRAIN += ("--no-progress", "--no-tensorboard", "--val-every", "2")


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_train_world_trains_on_the_world_it_names(tmp_path, capsys):
    """`emoji-world OUT --taxonomy habitat` then `train --world OUT`: its tree, its splits, nothing written in OUT."""
    from wordtree.tree import WordTree
    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import load_checkpoint

    out = tmp_path / "habitat"
    sizes = ["--detection", "8", "--classification-per-class", "1", "--test", "4", "--size", "96"]
    assert main(["emoji-world", str(out), "--taxonomy", "habitat", "--cls-size", "64", *sizes, "--quiet"]) == 0
    assert f"yolo9000 train --world {out}" in capsys.readouterr().out  # the command prints how to use it
    before = _listing(out)
    assert main(["train", "--world", str(out), "--out", str(tmp_path / "run"), *QUICK_TRAIN]) == 0
    assert _listing(out) == before  # no world drawn inside the user's world
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck["tree_fingerprint"] == WordTree.load(out / "wordtree.json").fingerprint
    assert ck["config"]["tree"] == str(out / "wordtree.json")
    assert ck["config"]["coco"] == str(out / "detection" / "annotations.json")
    assert ck["config"]["cls_objectness"] == "none"  # the emoji recipe


def test_train_world_that_is_not_a_world_is_one_line_and_writes_nothing(world, tmp_path, capsys):
    from yolo9000.cli import main

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    assert main(["train", "--world", str(mine), "--out", str(tmp_path / "run"), *QUICK_TRAIN]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"yolo9000 train: error: --world {mine}: is not an emoji world (no world.json) and not empty; make one with "
        f"`yolo9000 emoji-world {mine}`, or name a new or empty folder for the default world"
    ]
    assert _listing(mine) == ["notes.txt"] and not (tmp_path / "run").exists()
    # a folder of cached worlds (what --world named before) points at one of them
    assert main(["train", "--world", str(world.parent), "--out", str(tmp_path / "run"), *QUICK_TRAIN]) == 1
    assert f"holds emoji worlds but is not one; name one of them, e.g. --world {world}" in capsys.readouterr().err


def test_train_world_generates_the_default_world_only_in_a_new_or_empty_folder(tmp_path, monkeypatch):
    from yolo9000.emoji import world as world_module

    calls = []
    monkeypatch.setattr(world_module, "generate_world", lambda out, **kw: calls.append((out, kw)) or out)
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "new" / "world", empty):
        assert world_module.world_at(folder, workers=1) == folder
        assert calls.pop() == (folder, {"workers": 1, "progress": False})  # the default settings
    monkeypatch.setenv("WORLD_SIZE", "2")  # DDP: one rank generates under a lock beside the folder, then drops it
    assert world_module.world_at(tmp_path / "ddp", workers=1) == tmp_path / "ddp" and calls.pop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no lock left (the stub writes no world)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--world .*file: is a file"):
        world_module.world_at(tmp_path / "file")
    assert calls == []


def test_the_default_run_run_twice_reuses_or_resumes_its_run(world, tmp_path, monkeypatch, capsys):
    """`yolo9000 train` (no data, no --out) run again: a finished run of the same options is reused (exit 0, so
    detect and eval go on), an unfinished one resumes, a run of other options is refused; an --out the user
    named keeps the refusal."""
    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import load_checkpoint
    from yolo9000.training.trainer import Trainer

    monkeypatch.chdir(tmp_path)
    last = Path("runs/emoji/last.pt")
    first = ["train", "--world", str(world), *QUICK_TRAIN]
    assert main(first) == 0
    stamp = last.stat().st_mtime_ns
    capsys.readouterr()
    assert main(first + ["--progress"]) == 0  # options of the console only do not make another run
    out = capsys.readouterr().out.splitlines()
    reused = f"{last}: reusing the finished run of these options (2 steps); delete runs/emoji or give --out DIR"
    assert out[0] == reused + " to train again"
    assert out[-1].startswith("best val/AP50 ") and out[-1].endswith("-> runs/emoji/best.pt")
    assert last.stat().st_mtime_ns == stamp
    assert main(first + ["--steps", "3"]) == 1
    err = capsys.readouterr().err
    assert f"{last} exists, a run of other options (steps, lr_steps differ); pass --resume" in err
    assert main(first + ["--out", "runs/emoji"]) == 1  # the user's own --out: never reused silently
    assert "last.pt exists; pass --resume" in capsys.readouterr().err

    # an unfinished run (stopped after its second of four steps) resumes
    monkeypatch.chdir(tmp_path / "runs")
    original = Trainer._after_step

    def stop_after_two(self):
        original(self)
        if self.step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_after_step", stop_after_two)
    four = first + ["--steps", "4", "--save-every", "2"]
    assert main(four) == 130
    monkeypatch.setattr(Trainer, "_after_step", original)
    capsys.readouterr()
    assert main(four) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{last}: an unfinished run of these options (step 2 of 4); resuming it"
    assert out[1].startswith("trained 4 steps, ")
    assert load_checkpoint(last)["step"] == 4
