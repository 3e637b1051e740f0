"""Darknet cfg parsing, model construction from cfgs, and our shipped cfg templates."""

from __future__ import annotations

import textwrap

import pytest
import torch

from yolo9000.darknet.cfg import net_options, parse_cfg, read_cfg
from yolo9000.darknet.layers import MaxPool, Reorg, Route
from yolo9000.darknet.model import DarknetModel, load_darknet
from yolo9000.darknet.weights import weight_count

TINY = textwrap.dedent(
    """\
    [net]
    # comment line
    ; another comment
    width = 64
    height=64
    channels=3
    steps=10,20
    scales=.1,.1

    [convolutional]
    batch_normalize=1
    filters=8
    size=3
    stride=1
    pad=1
    activation=leaky

    [maxpool]
    size=2
    stride=2

    [convolutional]
    filters=16
    size=3
    pad=1
    activation=leaky

    [route]
    layers=-1,0

    [conv]
    filters=14
    size=1
    activation=linear

    [region]
    anchors = 1,1, 2,3
    classes=2
    num=2
    softmax=1
    """
)


def test_parse_sections_options_and_comments():
    sections = parse_cfg(TINY, source="tiny.cfg")
    assert [s.name for s in sections] == [
        "net",
        "convolutional",
        "maxpool",
        "convolutional",
        "route",
        "convolutional",
        "region",
    ]
    assert sections[0].options["width"] == "64"  # spaces around '=' are dropped, as in Darknet
    assert sections[6].get_floats("anchors") == [1.0, 1.0, 2.0, 3.0]
    assert sections[5].header == "conv" and sections[5].line == 31
    net = net_options(sections[0])
    assert net["width"] == 64 and net["steps"] == [10, 20] and net["scales"] == [0.1, 0.1]
    # Darknet defaults for what the cfg leaves out
    assert net["momentum"] == 0.9 and net["decay"] == 0.0001 and net["policy"] == "constant"


def test_duplicate_key_last_wins_and_defaults():
    s = parse_cfg("[net]\nwidth=32\nheight=32\n[convolutional]\nsize=3\nsize=1\n")[1]
    assert s.get_int("size", 0) == 1
    m = DarknetModel.from_cfg_text("[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=4\n")
    conv = m.layers[0]
    # Darknet's conv defaults: size 1, stride 1, no padding, logistic activation, no BN
    assert conv.activation == "logistic" and conv.bn is None and conv.conv.kernel_size == (1, 1)
    assert conv.conv.padding == (0, 0)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[net]\nwidth=32\n[convolutinal]\nfilters=3\n", "t.cfg:3: unknown section [convolutinal]"),
        ("width=32\n[net]\n", "t.cfg:1: option 'width=32' appears before any [section]"),
        ("[net]\nwidth 32\n", "t.cfg:2: expected 'key=value'"),
        ("[net\nwidth=32\n", "t.cfg:1: section header"),
        ("[convolutional]\nfilters=3\n", "t.cfg:1 [convolutional]: the first section must be [net]"),
        ("", "t.cfg: no sections found"),
        ("[net]\n[net]\n", "t.cfg:2 [net]: [net] may only appear once"),
    ],
)
def test_malformed_cfg_errors_name_file_and_line(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_cfg(text, source="t.cfg")
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("[convolutional]\nfilters=abc\n", "t.cfg:5 [convolutional]: option filters='abc' is not an integer"),
        ("[convolutional]\nfilters=4\n[route]\nlayers=-3\n", "route layer -3 points to layer -2"),
        ("[convolutional]\nfilters=4\n[route]\n", "route needs layers="),
        ("[convolutional]\nfilters=4\nactivation=tanhh\n", "unsupported activation 'tanhh'"),
        ("[convolutional]\nfilters=6\n[reorg]\nstride=2\n", "reorg stride 2 needs channels divisible by 4"),
        (
            "[convolutional]\nfilters=13\n[region]\nclasses=2\nnum=2\nanchors=1,1,2,2\n",
            "the layer before [region] has 13 filters but num=2 x (coords 4 + 1 + classes 2) = 14",
        ),
        (
            "[convolutional]\nfilters=14\n[region]\nclasses=2\nnum=2\nanchors=1,1,2\n",
            "anchors has 3 values but num=2 needs 4",
        ),
        (
            "[convolutional]\nfilters=4\nstride=2\n[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n",
            "route concatenates layers of different sizes",
        ),
        (
            "[convolutional]\nfilters=14\n[region]\nclasses=2\nnum=2\n[convolutional]\nfilters=3\n",
            "layers after [region] are not supported",
        ),
    ],
)
def test_bad_layer_options_give_clear_errors(body, fragment):
    text = "[net]\nwidth=32\nheight=32\nchannels=3\n" + body
    with pytest.raises(ValueError) as exc:
        DarknetModel.from_cfg_text(text, source="t.cfg")
    assert fragment in str(exc.value)


def test_route_size_mismatch_is_caught():
    with pytest.raises(ValueError, match=r"tiny.cfg:\d+ \[route\]: route concatenates layers of different sizes"):
        DarknetModel.from_cfg_text(TINY, source="tiny.cfg")


def test_route_concatenates_in_listed_order():
    text = TINY.replace("layers=-1,0", "layers=-1,-2").replace("filters=14", "filters=14")
    m = DarknetModel.from_cfg_text(text, source="tiny.cfg").eval()
    assert m.layers[3].sources == [2, 1]
    x = torch.rand(2, 3, 64, 64)
    outs = m.layer_outputs(x)
    assert torch.equal(outs[3], torch.cat([outs[2], outs[1]], 1))
    raw = m(x)
    assert raw.shape == (2, 14, 32, 32)
    reg = m.region_output(x)
    assert reg.shape == (2, 2, 7, 32, 32)
    assert m.region.num == 2 and m.region.classes == 2 and m.region.softmax
    assert torch.allclose(m.region.anchors, torch.tensor([[1.0, 1.0], [2.0, 3.0]]))


def test_read_cfg_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.cfg: cfg file not found"):
        read_cfg(tmp_path / "nope.cfg")
    with pytest.raises(FileNotFoundError, match="cfg file not found"):
        load_darknet(tmp_path / "nope.cfg")


def test_reference_cfgs_build(reference_dir):
    d = reference_dir / "darknet"
    with torch.device("meta"):  # structure only: no 200 MB of weights to allocate and initialise
        m = load_darknet(d / "yolov2.cfg")
    assert weight_count(m) == 50_983_561  # yolov2.weights: 16-byte header + 4 bytes x this = 203,934,260 bytes
    assert m.net["width"] == 608 and m.region.num == 5 and m.region.classes == 80 and m.region.rescore
    assert m.region.thresh == 0.6 and m.region.object_scale == 5 and m.region.jitter == 0.3
    assert m.region.saturation == 1.5 and m.net["steps"] == [400000, 450000]
    assert [type(m.layers[i]) for i in (25, 27, 28)] == [Route, Reorg, Route]
    assert m.layers[28].sources == [27, 24] and m.layers[25].sources == [16]
    tiny = load_darknet(d / "yolov2-tiny.cfg")
    assert isinstance(tiny.layers[11], MaxPool) and tiny.layers[11].stride == 1
    assert tiny(torch.zeros(1, 3, 64, 64)).shape == (1, 425, 2, 2)
    with torch.device("meta"):
        cls = load_darknet(d / "darknet19.cfg")
    assert cls.kinds[-3:] == ["convolutional", "avgpool", "softmax"] and cls.net["width"] == 256


def test_darknet19_classifier_probabilities():
    from yolo9000.darknet import templates

    cls = templates.darknet19(classes=7, size=64).eval()
    p = cls.classify(torch.rand(2, 3, 64, 64))
    assert p.shape == (2, 7) and torch.allclose(p.sum(1), torch.ones(2))


def test_yolo9000_cfg_finds_tree_and_map_next_to_cfg(reference_dir):
    from yolo9000.detection.head import RegionHead

    with torch.device("meta"):
        m = load_darknet(reference_dir / "darknet" / "yolo9000.cfg")  # tree=data/9k.tree, tried next to the cfg
    assert weight_count(m) == 48_807_501
    assert len(m.tree) == 9418 and m.region.num == 3 and m.region.map[:3] == [5177, 3768, 3802]
    assert m.tree.ids[6912] == "n02084071" and m.region.tree_file == "data/9k.tree"
    out = RegionHead(m.region).activate(torch.randn(1, 3 * 9423, 1, 1) * 3)
    # per-group softmax: the class block of each prediction sums to 1 inside every sibling group
    g = torch.tensor(m.tree.group.copy())
    sums = torch.zeros(m.tree.num_groups).index_add_(0, g, out[0, 0, 5:, 0, 0])
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)


def _tree_files(tmp_path, n_children=2):
    lines = ["n00000001 -1"] + [f"n0000001{i} 0" for i in range(n_children)]
    (tmp_path / "toy.tree").write_text("\n".join(lines) + "\n")
    return tmp_path / "toy.tree", 1 + n_children


def test_relative_tree_next_to_cfg_and_length_mismatch(tmp_path):
    tree_file, n = _tree_files(tmp_path)
    cfg = (
        "[net]\nwidth=32\nheight=32\nchannels=3\n"
        f"[convolutional]\nfilters={5 + n}\n[region]\nclasses={n}\nnum=1\ntree=data/toy.tree\n"
    )
    (tmp_path / "toy.cfg").write_text(cfg)
    m = load_darknet(tmp_path / "toy.cfg")
    assert len(m.tree) == 3 and m.head.tree_softmax is not None
    out = m.region_output(torch.rand(1, 3, 32, 32))
    assert torch.allclose(out[0, 0, 5], torch.ones(1))  # a lone root: probability 1
    assert torch.allclose(out[0, 0, 6:].sum(0), torch.ones(1))
    bad = cfg.replace(f"classes={n}", "classes=4").replace(f"filters={5 + n}", "filters=9")
    (tmp_path / "bad.cfg").write_text(bad)
    with pytest.raises(ValueError, match=r"bad.cfg:\d+ \[region\]: the tree has 3 nodes but classes=4"):
        load_darknet(tmp_path / "bad.cfg")
    (tmp_path / "missing.cfg").write_text(cfg.replace("toy.tree", "other.tree"))
    with pytest.raises(FileNotFoundError, match="tree file 'data/other.tree' not found"):
        load_darknet(tmp_path / "missing.cfg")
    # an explicit tree path overrides the cfg's
    m2 = load_darknet(tmp_path / "missing.cfg", tree=tree_file)
    assert len(m2.tree) == 3


def test_shipped_templates_match_darknet_architectures(reference_dir):
    from yolo9000.darknet import templates

    with torch.device("meta"):
        ours = templates.yolov2(size=608)
        ref = load_darknet(reference_dir / "darknet" / "yolov2.cfg")
        cls = templates.darknet19(classes=1000, size=256)
        ref_cls = load_darknet(reference_dir / "darknet" / "darknet19.cfg")
    assert ours.kinds == ref.kinds
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    assert torch.equal(ours.region.anchors, ref.region.anchors)
    assert [(k, v.shape) for k, v in cls.state_dict().items()] == [
        (k, v.shape) for k, v in ref_cls.state_dict().items()
    ]


def test_model_constructors_and_tree_heads(tmp_path):
    from wordtree.tree import WordTree
    from yolo9000.darknet import templates

    tree = WordTree(["a", "b", "c", "d", "e"], [-1, 0, 0, 1, 1])
    m = templates.yolov2(tree=tree, num_anchors=3, size=64)
    assert m.region.classes == len(tree) == 5 and m.region.num == 3 and m.tree is tree
    assert m(torch.zeros(1, 3, 64, 64)).shape == (1, 3 * 10, 2, 2)
    assert "tree=" in m.cfg_text and "reorg" in m.kinds
    with torch.device("meta"):
        y9 = templates.yolo9000(tree, size=64)
    assert y9.region.num == 3 and "reorg" not in y9.kinds and y9.region.saturation == 0.75
    tiny = templates.tiny_yolo9000(tree, size=64, width=0.25)
    assert tiny(torch.zeros(2, 3, 64, 64)).shape == (2, 30, 2, 2)
    # the rendered cfg rebuilds the same module (what checkpoints rely on)
    again = DarknetModel.from_cfg_text(tiny.cfg_text, tree=tree)
    assert [(k, v.shape) for k, v in again.state_dict().items()] == [(k, v.shape) for k, v in tiny.state_dict().items()]
    flat = templates.tiny_yolo(classes=3, anchors=[(1, 1), (2, 2)], size=96, width=0.25)
    assert flat.region.num == 2 and flat(torch.zeros(1, 3, 96, 96)).shape == (1, 16, 3, 3)
    with pytest.raises(ValueError, match="multiple of 32"):
        templates.yolov2(size=100)
    with pytest.raises(ValueError, match="num_anchors=7 needs explicit anchors"):
        templates.yolov2(num_anchors=7)
    with pytest.raises(ValueError, match="2 anchors given but num_anchors=3"):
        templates.yolov2(anchors=[(1, 1), (2, 2)], num_anchors=3)
    with pytest.raises(ValueError, match="unknown model template"):
        templates.render_cfg("resnet")


def test_wrong_input_shape_is_a_clear_error():
    m = DarknetModel.from_cfg_text(
        "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=4\n", source="x.cfg"
    )
    with pytest.raises(ValueError, match=r"x.cfg: expected input \(B, 3, H, W\), got \(1, 1, 32, 32\)"):
        m(torch.zeros(1, 1, 32, 32))


def test_load_darknet_takes_template_names(tmp_path):
    """A --cfg that is no file may name one of our templates, sized for the tree; anything else is one line."""
    import tiny_data as td

    tree = td.make_tree()
    m = load_darknet("tiny-yolo9000", tree=tree)
    assert m.region is not None and m.region.classes == len(tree) and m.tree is tree and not m.training
    assert load_darknet("tiny_yolo", tree=tree).region.classes == len(tree)  # a flat template with a tree head
    assert load_darknet("tiny-yolo").region.classes == 20 and load_darknet("tiny-yolo").tree is None
    with pytest.raises(ValueError, match=r"^--cfg yolo9000: the template has a tree head; pass --tree to size it$"):
        load_darknet("yolo9000")
    with pytest.raises(FileNotFoundError, match=r"resnet: cfg file not found, and not a template name \(darknet19, "):
        load_darknet("resnet")
