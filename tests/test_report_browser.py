"""The detection report in a real browser: Debian's chromium, headless, loads the generated `index.html` from the
file system; the test reads the DOM it built (`--dump-dom`) for a box and a hier-thresh chosen through the
address (`#image=0&box=i&thresh=t`), and checks it against detections.jsonl and `TreeSoftmax.predict` on the
model's own region output. Worlds: the emoji world (random weights) and Darknet's 9418-node tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from test_report_page import read_chunk, tree_run  # noqa: F401 (a fixture)

from yolo9000.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:  # one line for the whole file
    pytest.skip(
        "chromium not installed (scripts/setup.sh installs Debian's): report browser tests skipped",
        allow_module_level=True,
    )


class Dom(HTMLParser):
    """Start tags with their attributes, and the text of each element that has an id (before its first child)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        self._open = a.get("id")
        if self._open:
            self.text.setdefault(self._open, "")

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open:
            self.text[self._open] += data

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if (tag is None or t == tag)
            and (cls is None or cls in a.get("class", "").split())
            and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def browse(page: Path, fragment: str, tmp: Path, screenshot: Path | None = None) -> Dom:
    """The DOM chromium built for `page#fragment` (scripts run, chunks loaded); a screenshot too when asked."""
    profile = tmp / "chromium-profile"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # root in containers
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",  # waits for the chunk scripts the page loads on demand
        "--window-size=1280,1000",
    ]
    url = page.resolve().as_uri() + "#" + fragment
    env = {**os.environ, "HOME": str(tmp)}
    if screenshot is not None:
        subprocess.run(cmd + [f"--screenshot={screenshot}", url], capture_output=True, timeout=120, env=env, check=True)
        assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    done = subprocess.run(cmd + ["--dump-dom", url], capture_output=True, timeout=120, env=env, text=True, check=True)
    assert "<html" in done.stdout, done.stderr[-2000:]
    return Dom(done.stdout)


def region_conditionals(detector, picture: Path, index: int) -> torch.Tensor:
    """P(node | parent) of the prediction `index` (anchor*H*W + cell) for `picture`: the model's own output."""
    from yolo9000.data.image_io import read_image

    with torch.inference_mode():
        out = detector.model.region_output(detector.preprocess([read_image(picture)]))
    _, _, _, h, w = out.shape
    a, cell = divmod(index, h * w)
    return out[0, a, 5:, cell // w, cell % w].float()


def check_report(
    out: Path, tree, detector, pictures: list[Path], tmp: Path, shot: Path | None, mode: str = "paper", tries: int = 4
) -> None:
    """The grid lists every image; a box's path shows the JSON's numbers; the slider's label follows predict
    (`mode`) at `tries` thresholds."""
    from wordtree.softmax import TreeSoftmax

    _, entries = read_chunk(out / "report" / "data-000.js")
    dets = entries[0]["detections"]
    assert dets, "the random model should detect something"
    # the box whose walk has the most distinct P(node) values: the threshold moves its label the most
    box = max(range(len(dets)), key=lambda i: len({s["abs"] for s in dets[i]["walk"]}))
    d = dets[box]
    dom = browse(out / "index.html", f"image=0&box={box}", tmp, screenshot=shot)
    cards = dom.find("a", "card")
    assert [c["data-name"] for c in cards] == [p.name for p in pictures]  # every image, by its file name
    assert dom.find("aside", id="box-panel")[0]["data-box"] == str(box)
    rows = dom.find("tr", "step")
    assert [int(r["data-node"]) for r in rows] == [s["node"] for s in d["walk"]]
    assert [float(r["data-cond"]) for r in rows] == [s["prob"] for s in d["walk"]]
    assert [float(r["data-abs"]) for r in rows] == [s["abs"] for s in d["walk"]]
    assert len(dom.find("g", "box")) == len(dets)
    assert all(g.get("tabindex") == "0" and g.get("aria-label") for g in dom.find("g", "box"))
    assert int(dom.find(id="label-now")[0]["data-node"]) == d["node"]  # at the run's --hier-thresh
    assert dom.text["label-now"].strip() == d["name"]

    ts = TreeSoftmax(tree)
    cond = region_conditionals(detector, pictures[0], d["index"])
    values = [s["abs"] for s in d["walk"]]  # what the walk compares with the threshold at each level
    if mode == "darknet":  # Darknet's running product of absolute probabilities
        values = [float(torch.tensor(values[: k + 1], dtype=torch.float64).prod()) for k in range(len(values))]
    distinct = sorted(set(values), reverse=True)
    cuts = [(a + b) / 2 for a, b in zip(distinct, distinct[1:])] or [0.5]
    labels = []
    for t in [cuts[0], cuts[-1], cuts[len(cuts) // 2], 0.0][:tries]:
        dom = browse(out / "index.html", f"image=0&box={box}&thresh={t!r}", tmp)
        got = int(dom.find(id="label-now")[0]["data-node"])
        want = int(ts.predict(cond[None], float(t), mode=mode, probs=True).node[0])
        assert got == want, f"hier-thresh {t}: the page says {tree.names[got]}, predict {tree.names[want]}"
        assert "Stopped at" in dom.text["why"] or "root" in dom.text["why"]
        labels.append(got)
    if len(cuts) > 1:
        assert len(set(labels)) > 1, "moving the threshold should change the label"


def _random_tree_model(tree, cfg_text: str, seed: int):
    from yolo9000.darknet.model import DarknetModel

    torch.manual_seed(seed)
    model = DarknetModel.from_cfg_text(cfg_text, tree=tree)
    with torch.no_grad():  # a head confident enough that random weights walk below the roots
        head = model.conv_blocks()[-1].conv
        head.weight.normal_(0, 0.3)
    return model.eval()


def test_emoji_world_report_in_chromium(tmp_path):
    from tiny_data import make_cfg

    from wordtree.formats import load_tree
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.emoji.render import default_font_path
    from yolo9000.emoji.world import generate_world
    from yolo9000.inference.detector import Detector, load_detector_model

    if not default_font_path().is_file():
        pytest.skip("emoji font not installed (fonts-noto-color-emoji): emoji report test skipped")
    try:
        world = generate_world(tmp_path / "world", seed=5, n_detection=2, n_classification_per_class=1, n_test=3)
    except (LookupError, OSError, RuntimeError) as exc:
        pytest.skip(f"emoji world unavailable (WordNet?): {exc}")
    tree = load_tree(world / "wordtree.json")
    cfg = make_cfg(tree, tmp_path / "emoji.cfg", size=96).read_text()
    ckpt = save_checkpoint(tmp_path / "emoji.pt", _random_tree_model(tree, cfg, 0), names=list(tree.names))
    pictures = sorted((world / "test" / "images").iterdir())
    out = tmp_path / "out"
    args = ["detect", "--checkpoint", str(ckpt), "--thresh", "0.01", "--quiet", "--device", "cpu", "--out", str(out)]
    assert main(args + [str(p) for p in pictures]) == 0
    model, names = load_detector_model(checkpoint=ckpt)
    check_report(out, tree, Detector(model, names), pictures, tmp_path, tmp_path / "emoji-report.png")


@pytest.mark.slow
def test_darknet_9k_tree_report_in_chromium(reference_dir, random_pictures, tmp_path):
    from wordtree.formats import load_tree
    from yolo9000.inference.detector import Detector
    from yolo9000.inference.runner import detect_files

    darknet = reference_dir / "darknet"
    tree = load_tree(darknet / "9k.tree", darknet / "9k.names")
    assert len(tree) == 9418
    model = _random_tree_model(tree, (darknet / "yolo9000.cfg").read_text(), 0)
    detector = Detector(model, list(tree.names), thresh=0.001, size=96, siblings=3)
    pictures = [random_pictures[2]]
    detect_files(detector, pictures, tmp_path / "out", progress=False, workers=1)
    check_report(tmp_path / "out", tree, detector, pictures, tmp_path, tmp_path / "9k-report.png")


def test_grid_pages_load_their_chunk(tree_run, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    from yolo9000.inference import report_page

    monkeypatch.setattr(report_page, "CHUNK", 2)  # five images: pages of 2, 2 and 1
    inputs = [str(p) for p in tree_run["pictures"] + tree_run["pictures"][:2]]
    out = tmp_path / "out"
    assert main(tree_run["args"] + ["--out", str(out), *inputs]) == 0
    dom = browse(out / "index.html", "page=2", tmp_path)
    assert [(c["data-index"], c["data-name"]) for c in dom.find("a", "card")] == [("2", "pic2.png"), ("3", "pic0.png")]
    assert [i["value"] for i in dom.find("input", aria_label="go to page")] == ["2", "2"]  # both pagers
    dom = browse(out / "index.html", "image=4&box=0", tmp_path)  # an image on the last page opens with its page
    assert [c["data-index"] for c in dom.find("a", "card")] == ["4"]
    assert dom.find("aside", id="box-panel")[0]["data-box"] == "0"


def test_darknet_mode_walk_in_chromium(tree_run, tmp_path):  # noqa: F811 (the imported fixture)
    from yolo9000.inference.detector import Detector, load_detector_model

    out = tmp_path / "out"
    pictures = tree_run["pictures"][:1]
    assert main(tree_run["args"] + ["--mode", "darknet", "--out", str(out), str(pictures[0])]) == 0
    model, names = load_detector_model(checkpoint=tree_run["ckpt"])
    tree = model.region.tree
    check_report(out, tree, Detector(model, names, mode="darknet"), pictures, tmp_path, None, mode="darknet", tries=2)


def test_ten_thousand_images_open_page_by_page(tmp_path):
    from wordtree.files import prepare_output_dir
    from yolo9000.inference.report_page import ReportPage, report_files

    n = 10_000
    out = tmp_path / "out"
    folder = prepare_output_dir(out, command="yolo9000 detect", owned=report_files(n, 0))
    settings = {"mode": "paper", "thresh": 0.25, "hier_thresh": 0.5, "nms": 0.45, "tree": True, "report_depth": 2}
    page = ReportPage(folder, settings, pictures=False)
    walk = [
        {
            "node": 0,
            "name": "animal",
            "prob": 0.9,
            "abs": 0.9,
            "siblings": [{"node": 0, "name": "animal", "prob": 0.9}],
        },
        {"node": 2, "name": "dog", "prob": 0.5, "abs": 0.45, "siblings": [{"node": 2, "name": "dog", "prob": 0.5}]},
    ]
    for i in range(n):
        rec = {"box": [1, 2, 30, 40], "score": 0.6, "objectness": 0.7, "label": 0, "name": "animal", "prob": 0.9}
        rec.update(node=0, path=walk[:1], walk=walk)
        page.add_image(Path(f"/private/photos/img{i:05d}.jpg"), None, [rec], ["animal (0.60)"], None, (64, 48))
    page.finish([])
    assert len(list((out / "report").glob("data-*.js"))) == 100
    assert all(b"/private" not in p.read_bytes() for p in out.rglob("*") if p.is_file())
    dom = browse(out / "index.html", "page=100", tmp_path)
    assert [c["data-name"] for c in dom.find("a", "card")] == [f"img{i:05d}.jpg" for i in range(9900, n)]
    dom = browse(out / "index.html", "image=9999&box=0&thresh=0.4", tmp_path)  # below dog's 0.45: dog
    assert dom.find(id="label-now")[0]["data-node"] == "2"
    assert dom.find("h2", id="detail-title") and dom.text["detail-title"] == "img09999.jpg"
