"""The data behind the detection report (`yolo9000.inference.report_page`): the greedy walk and its siblings
against `TreeSoftmax.predict`, the page's chunks against detections.jsonl, pagination, relative names only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from test_detect_cli import read_jsonl, toy_tree, toy_tree_checkpoint

from wordtree import WordTree
from yolo9000.cli import main

pytest.importorskip("wordtree.softmax")


def stop_level(walk: list[dict], t: float, mode: str) -> int:
    """The level where the page's script (`stopLevel` in report.js) stops the walk: the same rule, in Python."""
    stop, run = 0, 1.0
    for level, step in enumerate(walk):
        cand = run * step["abs"] if mode == "darknet" else step["abs"]
        if not cand > t:
            break
        stop, run = level, cand
    return stop


def read_chunk(path: Path) -> tuple[int, list[dict]]:
    """(k, entries) of a data chunk `yolo9000Report.chunk(k, [...]);`."""
    m = re.fullmatch(r"yolo9000Report\.chunk\((\d+),(.*)\);\n", path.read_text(), re.S)
    assert m, f"{path.name} is not a chunk script"
    return int(m.group(1)), json.loads(m.group(2))


def random_tree(n: int, seed: int) -> WordTree:
    """A random tree of n nodes (several roots, groups of varied sizes)."""
    g = torch.Generator().manual_seed(seed)
    parent = [-1, -1, -1] + [int(torch.randint(0, i, (1,), generator=g)) for i in range(3, n)]
    edges = {f"n{i:08d}": (f"n{p:08d}" if p >= 0 else None) for i, p in enumerate(parent)}
    return WordTree.from_edges(edges, {w: f"node{i}" for i, w in enumerate(edges)})


@pytest.mark.parametrize("tree", [toy_tree(), random_tree(60, 0)], ids=["toy", "random60"])
@pytest.mark.parametrize("mode", ["paper", "darknet"])
def test_greedy_walk_replays_predict_at_every_threshold(tree, mode):
    from wordtree.softmax import TreeSoftmax
    from yolo9000.detection.decode import greedy_walk
    from yolo9000.detection.detections import Detections

    ts = TreeSoftmax(tree)
    torch.manual_seed(3)
    cond = ts.darknet_probs(torch.randn(200, len(tree)) * 3)
    cols = greedy_walk(tree, cond, 3)
    n = cond.shape[0]
    det = Detections(
        boxes=torch.zeros(n, 4),
        scores=torch.zeros(n),
        objectness=torch.zeros(n),
        labels=torch.zeros(n, dtype=torch.long),
        probs=torch.zeros(n),
        index=torch.zeros(n, dtype=torch.long),
        node_names=list(tree.names),
        **cols,
    )
    walks = [rec["walk"] for rec in det.to_records(digits=12)]
    for t in (0.0, 0.05, 0.2, 0.4, 0.5, 0.7, 0.9, 0.99):
        want = ts.predict(cond, t, mode=mode, probs=True).node.tolist()
        got = [w[stop_level(w, t, mode)]["node"] for w in walks]
        assert got == want, f"threshold {t}"
    for w, row in zip(walks, cond):
        assert tree.is_leaf[w[-1]["node"]]  # to a leaf, whatever the threshold
        assert [s["node"] for s in w] == tree.path(w[-1]["node"])
        for s in w:
            probs = [x["prob"] for x in s["siblings"]]
            assert probs == sorted(probs, reverse=True) and s["siblings"][0]["node"] == s["node"]
            assert s["prob"] == pytest.approx(float(row[s["node"]]), abs=1e-9)
            top = sorted(tree.siblings(s["node"]), key=lambda m: -float(row[m]))[:3]
            assert [x["node"] for x in s["siblings"]] == top


@pytest.fixture(scope="module")
def tree_run(tmp_path_factory, random_pictures):
    """A tree checkpoint (the biased toy head of test_detect_cli) run through `yolo9000 detect` into a folder."""
    d = tmp_path_factory.mktemp("report")
    ckpt = toy_tree_checkpoint(d / "tree.pt", 1.5, [2.0, 0, 1.0, 0, 0, 0.5, 0])
    args = ["detect", "--checkpoint", str(ckpt), "--thresh", "0.05", "--quiet", "--device", "cpu"]
    return {"ckpt": ckpt, "args": args, "pictures": random_pictures, "dir": d}


def test_page_data_equals_the_json_lines_and_names_no_folder(tree_run, tmp_path):
    out = tmp_path / "out"
    missing = tmp_path / "gone" / "missing.png"
    inputs = [str(p) for p in tree_run["pictures"]] + [str(missing)]
    assert main(tree_run["args"] + ["--report-depth", "2", "--out", str(out), *inputs]) == 0
    rows = read_jsonl(out / "detections.jsonl")
    k, entries = read_chunk(out / "report" / "data-000.js")
    assert k == 0 and [e["name"] for e in entries] == [p.name for p in tree_run["pictures"]]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    for row, entry in zip(rows, entries):
        assert entry["detections"] == row["detections"]  # the page shows the JSON lines' numbers
        assert (entry["width"], entry["height"]) == (row["width"], row["height"])
        assert (out / entry["picture"]).is_file() and (out / entry["annotated"]).is_file()
        for d in row["detections"]:
            walk, path = d["walk"], d["path"]
            assert [s["node"] for s in walk[: len(path)]] == [p["node"] for p in path]  # the path is its prefix
            assert [(s["prob"], s["abs"]) for s in walk[: len(path)]] == [(p["prob"], p["abs"]) for p in path]
            assert all(len(s["siblings"]) <= 2 for s in walk)
            assert walk[stop_level(walk, 0.5, "paper")]["node"] == d["node"]  # the page's label at the run's setting
    assert sum(len(r["detections"]) for r in rows) > 0
    meta = json.loads(
        re.search(
            r'<script id="meta" type="application/json">(.*?)</script>', (out / "index.html").read_text(), re.S
        ).group(1)
    )
    assert meta["items"] == 3 and meta["hier_thresh"] == 0.5 and meta["mode"] == "paper" and meta["report_depth"] == 2
    assert meta["skipped"] == [["missing.png", "not found"]]
    # no folder of the run's in the page: every file but the JSON lines (which keep the input paths) and the marker
    page_files = [
        p for p in out.rglob("*") if p.is_file() and p.name not in ("detections.jsonl", ".yolo9000-output.json")
    ]
    assert {p.relative_to(out).as_posix() for p in page_files} >= {
        "index.html",
        "report/report.js",
        "report/data-000.js",
    }
    for p in page_files:
        data = p.read_bytes()
        assert str(tmp_path).encode() not in data and b"/tmp" not in data, p
        assert str(Path.home()).encode() not in data or str(Path.home()) == "/", p


def test_report_depth_zero_and_flat_models_store_no_walk(tree_run, tmp_path):
    out = tmp_path / "out"
    assert main(tree_run["args"] + ["--report-depth", "0", "--out", str(out), str(tree_run["pictures"][0])]) == 0
    (row,) = read_jsonl(out / "detections.jsonl")
    assert row["detections"] and all("walk" not in d and "path" in d for d in row["detections"])


def test_pagination_chunks(tree_run, tmp_path, monkeypatch):
    from yolo9000.inference import report_page

    monkeypatch.setattr(report_page, "CHUNK", 2)
    pics = tree_run["pictures"]
    out = tmp_path / "out"
    inputs = [str(p) for p in pics + pics[:2]]  # five images: chunks of 2, 2 and 1
    assert main(tree_run["args"] + ["--no-images", "--out", str(out), *inputs]) == 0
    chunks = sorted((out / "report").glob("data-*.js"))
    assert [c.name for c in chunks] == ["data-000.js", "data-001.js", "data-002.js"]
    seen = []
    for want, c in enumerate(chunks):
        k, entries = read_chunk(c)
        assert k == want and len(entries) == (1 if k == 2 else 2)
        seen += entries
    assert [e["index"] for e in seen] == list(range(5))
    assert [e["name"] for e in seen] == [Path(p).name for p in inputs]
    assert all(e["picture"] is None and e["annotated"] is None for e in seen)  # --no-images: no picture copies
    assert not (out / "report" / "img").exists()
    meta = re.search(r'<script id="meta" type="application/json">(.*?)</script>', (out / "index.html").read_text())
    assert json.loads(meta.group(1))["chunks"] == 3


def test_report_files_are_refused_over_a_users_file(tree_run, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    (out / "report" / "report.js").write_text("the user's script\n")
    assert main(tree_run["args"] + ["--force", "--out", str(out), str(tree_run["pictures"][0])]) == 1
    assert "report/report.js was not written by yolo9000 detect" in capsys.readouterr().err
    assert (out / "report" / "report.js").read_text() == "the user's script\n"
    assert not (out / "detections.jsonl").exists()
