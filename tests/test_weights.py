"""Darknet .weights read/write: layout, headers by version, size errors, byte-exact round trips, convert."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from darknet_files import cfg_text, conv, maxpool

from yolo9000.darknet.model import load_darknet
from yolo9000.darknet.weights import load_weights, read_weights_header, save_weights, weight_count

CFG = cfg_text(
    conv(4),
    maxpool(),
    conv(8),
    maxpool(),
    ("route", {"layers": -3}),
    conv(4, size=1),
    ("reorg", {"stride": 2}),
    ("route", {"layers": "-1,-4"}),
    conv(14, size=1, bn=False, activation="linear"),
    ("region", {"anchors": "1,1,2,2", "classes": 2, "num": 2, "softmax": 1}),
)
# floats per conv in cfg order: (bias, [gamma, mean, var], weights)
LAYOUT = [(4, True, 4 * 3 * 9), (8, True, 8 * 4 * 9), (4, True, 4 * 4 * 1), (14, False, 14 * 24 * 1)]


def write_weights(path, values: np.ndarray, major=0, minor=2, revision=0, seen=0):
    """A .weights file written straight from Darknet's format (header, then each conv layer's floats),
    independent of the code under test."""
    with open(path, "wb") as f:
        f.write(struct.pack("<3i", major, minor, revision))
        long_seen = (major * 10 + minor) >= 2 and major < 1000 and minor < 1000
        f.write(struct.pack("<Q" if long_seen else "<i", seen))
        f.write(values.astype("<f4").tobytes())


@pytest.fixture()
def cfg_file(tmp_path):
    p = tmp_path / "small.cfg"
    p.write_text(CFG)
    return p


def n_floats():
    return sum(n * (4 if bn else 1) + w for n, bn, w in LAYOUT)


def test_layout_maps_each_array_to_its_tensor(cfg_file, tmp_path):
    model = load_darknet(cfg_file)
    assert weight_count(model) == n_floats()
    values = np.arange(n_floats(), dtype=np.float32) / 1000
    write_weights(tmp_path / "w.weights", values, seen=64)
    assert load_weights(model, tmp_path / "w.weights") == 64
    pos = 0
    for block, (n, bn, w) in zip(model.conv_blocks(), LAYOUT):
        order = (
            [block.bn.bias, block.bn.weight, block.bn.running_mean, block.bn.running_var] if bn else [block.conv.bias]
        ) + [block.conv.weight]
        sizes = [n] * (4 if bn else 1) + [w]
        for t, size in zip(order, sizes):
            assert torch.equal(t.detach().flatten(), torch.from_numpy(values[pos : pos + size]))
            pos += size
    assert pos == values.size
    assert block.conv.weight.shape == (14, 24, 1, 1)  # (out, in, kh, kw) as in Darknet


@pytest.mark.parametrize(
    "version, seen, header",
    [((0, 2, 0), 123456789012, 20), ((0, 1, 0), 4096, 16), ((1, 0, 0), 7, 20), ((0, 1000, 0), 9, 16)],
)
def test_round_trip_identical_bytes_per_header_version(cfg_file, tmp_path, version, seen, header):
    model = load_darknet(cfg_file)
    values = np.random.default_rng(0).standard_normal(n_floats()).astype(np.float32)
    src = tmp_path / "in.weights"
    write_weights(src, values, *version, seen=seen)
    assert read_weights_header(src) == (version, seen, header)
    load_weights(model, src)
    assert model.seen == seen and model.weights_version == version
    out = tmp_path / "out.weights"
    save_weights(model, out)
    assert out.read_bytes() == src.read_bytes()
    # and back into a fresh model: identical tensors
    fresh = load_darknet(cfg_file, out)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    # explicit version/seen as Darknet writes them
    save_weights(model, out, seen=5, version=(0, 2, 0))
    assert read_weights_header(out) == ((0, 2, 0), 5, 20)


@pytest.mark.parametrize("delta", [-4, 4, 2])
def test_wrong_size_states_both_sizes(cfg_file, tmp_path, delta):
    model = load_darknet(cfg_file)
    values = np.zeros(n_floats(), dtype=np.float32)
    p = tmp_path / "bad.weights"
    write_weights(p, values)
    with open(p, "r+b") as f:
        f.truncate(20 + 4 * n_floats() + delta)
    expected = 20 + 4 * n_floats()
    with pytest.raises(ValueError) as exc:
        load_weights(model, p)
    msg = str(exc.value)
    assert str(p) in msg and f"has {expected + delta} bytes" in msg and str(expected) in msg
    assert "\n" not in msg


def test_short_header_and_missing_file(cfg_file, tmp_path):
    model = load_darknet(cfg_file)
    p = tmp_path / "tiny.weights"
    p.write_bytes(b"\x00" * 8)
    with pytest.raises(ValueError, match="too short for a Darknet header"):
        load_weights(model, p)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_weights(model, tmp_path / "none.weights")


def test_partial_weights_load_a_prefix(cfg_file, tmp_path):
    model = load_darknet(cfg_file)
    before = [t.clone() for t in model.state_dict().values()]
    first = LAYOUT[0][0] * 4 + LAYOUT[0][2]
    values = np.full(first, 0.25, dtype=np.float32)
    p = tmp_path / "partial.weights"
    write_weights(p, values)
    with pytest.raises(ValueError, match=r"holds exactly this model's first 1 conv layers: pass --weights-layers 1"):
        load_weights(model, p)
    write_weights(p, values, seen=9)
    assert load_weights(model, p, layers=1) == 9 and model.seen == 0  # a prefix: a new model, `seen` not taken
    b0 = model.conv_blocks()[0]
    assert torch.all(b0.conv.weight == 0.25) and torch.all(b0.bn.running_var == 0.25)
    assert torch.equal(
        model.conv_blocks()[1].conv.weight, before[list(model.state_dict()).index("layers.2.conv.weight")]
    )
    # the same policy for a longer file of another cfg sharing the first layer: only the layers asked for
    write_weights(p, np.full(first + 3, 0.5, np.float32))
    assert load_weights(model, p, layers=1) == 0 and torch.all(model.conv_blocks()[0].conv.weight == 0.5)
    with pytest.raises(ValueError, match="holds only 1 conv layers that fit this model, 2 requested"):
        load_weights(model, p, layers=2)
    # the deprecated allow_partial: the whole layers of a shorter file, which must end on a layer boundary
    with pytest.warns(DeprecationWarning, match="pass layers=N"), pytest.raises(ValueError, match="layer boundary"):
        load_weights(model, p, allow_partial=True)
    write_weights(p, values)
    with pytest.warns(DeprecationWarning):
        load_weights(model, p, allow_partial=True)
    assert torch.all(model.conv_blocks()[0].conv.weight == 0.25)


def test_shared_generator_file_round_trips(shared_tools_dir, cfg_file, tmp_path):
    out = tmp_path / "gen.weights"
    subprocess.run(
        [
            sys.executable,
            str(shared_tools_dir / "make_darknet_weights.py"),
            str(cfg_file),
            str(out),
            "--seed",
            "3",
            "--quiet",
        ],
        check=True,
    )
    model = load_darknet(cfg_file, out)
    again = tmp_path / "again.weights"
    save_weights(model, again)
    assert again.read_bytes() == out.read_bytes()


def test_convert_cli_round_trip(cfg_file, tmp_path):
    from yolo9000.cli import main
    from yolo9000.darknet.checkpoint import load_model

    values = (np.abs(np.random.default_rng(1).standard_normal(n_floats())) * 0.3 + 0.05).astype(np.float32)
    src = tmp_path / "src.weights"
    write_weights(src, values, seen=640)
    ckpt = tmp_path / "model.pt"
    assert main(["convert", str(cfg_file), str(src), "-o", str(ckpt)]) == 0
    model = load_model(ckpt)
    assert model.seen == 640 and model.region.num == 2
    ref = load_darknet(cfg_file, src)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    # refuses to overwrite without --force
    assert main(["convert", str(cfg_file), str(src), "-o", str(ckpt)]) == 1
    back = tmp_path / "back"
    assert main(["convert", str(ckpt), "--to-darknet", "-o", str(back)]) == 0
    assert (tmp_path / "back.weights").read_bytes() == src.read_bytes()
    rebuilt = load_darknet(tmp_path / "back.cfg", tmp_path / "back.weights")
    with torch.no_grad():
        assert torch.equal(rebuilt(x), ref(x))
    # a cfg/weights mismatch is one clear line
    bad = tmp_path / "bad.weights"
    write_weights(bad, values[:-1])
    assert main(["convert", str(cfg_file), str(bad), "-o", str(tmp_path / "x.pt")]) == 1


def test_convert_tree_model_round_trip(tmp_path):
    from wordtree.tree import WordTree
    from yolo9000.cli import main
    from yolo9000.darknet import templates
    from yolo9000.darknet.checkpoint import load_model, save_checkpoint

    tree = WordTree(["n1", "n2", "n3", "n4"], [-1, 0, 0, 1], ["thing", "animal", "plant", "dog"])
    model = templates.tiny_yolo9000(tree, size=64, width=0.25).eval()
    ckpt = tmp_path / "tree.pt"
    save_checkpoint(ckpt, model, seen=32)
    assert main(["convert", str(ckpt), "--to-darknet", "-o", str(tmp_path / "dk" / "toy")]) == 0
    dk = tmp_path / "dk"
    assert (dk / "toy.tree").is_file() and (dk / "toy.names").read_text().split() == ["thing", "animal", "plant", "dog"]
    back = load_darknet(dk / "toy.cfg", dk / "toy.weights")  # finds toy.tree through the cfg's tree= line
    assert len(back.tree) == 4 and back.seen == 32
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back.region_output(x), model.region_output(x))
    # and into a checkpoint again, tree given explicitly
    assert (
        main(
            [
                "convert",
                str(dk / "toy.cfg"),
                str(dk / "toy.weights"),
                "--tree",
                str(dk / "toy.tree"),
                "-o",
                str(tmp_path / "again.pt"),
            ]
        )
        == 0
    )
    again = load_model(tmp_path / "again.pt")
    assert again.tree.ids == tree.ids


def test_convert_keeps_names_map_and_refuses_overwrite(tmp_path):
    from yolo9000.cli import main

    d = tmp_path / "dk"
    d.mkdir()
    (d / "toy.tree").write_text("n1 -1\nn2 0\nn3 0\n")
    (d / "toy.names").write_text("thing\nanimal\nplant\n")
    (d / "coco.map").write_text("2\n1\n")
    cfg = (
        "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=8\nsize=1\nactivation=linear\n"
        "[region]\nclasses=3\nnum=1\ntree=data/toy.tree\nmap=data/coco.map\n"
    )
    (d / "toy.cfg").write_text(cfg)
    model = load_darknet(d / "toy.cfg")
    assert model.tree.names == ("thing", "animal", "plant") and model.region.map == [2, 1]
    save_weights(model, d / "toy.weights")
    assert (d / "toy.weights").stat().st_mode & 0o044  # not the 0600 of a temp file
    assert main(["convert", str(d / "toy.cfg"), str(d / "toy.weights"), "-o", str(tmp_path / "toy.pt")]) == 0
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "toy.pt"), "-o", str(out / "m")]) == 0
    assert (out / "m.map").read_text().split() == ["2", "1"]
    assert (out / "m.names").read_text().split() == ["thing", "animal", "plant"]
    back = load_darknet(out / "m.cfg", out / "m.weights")
    assert back.region.map == [2, 1] and back.tree.names == ("thing", "animal", "plant")
    before = (out / "m.cfg").read_text()
    assert main(["convert", str(tmp_path / "toy.pt"), "-o", str(out / "m")]) == 1  # exists: no overwrite
    assert (out / "m.cfg").read_text() == before
    assert main(["convert", str(tmp_path / "toy.pt"), "-o", str(out / "m"), "--force"]) == 0
