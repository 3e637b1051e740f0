"""The notebooks are committed with their outputs, and those outputs come from the current code.

scripts/make_notebooks.py executes the notebooks in place with the shipped emoji-world model
(notebooks/data/emoji-model.pt) and writes them in one normal form. Here: the committed files are in that form
(every code cell executed, in order), and executing them again gives the committed outputs: text, tables and
streams equal (numbers up to one unit in their last printed digit, which float rounding on another CPU may
move), and the same figures (decodable PNGs; pixels are not compared).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("wordtree", "conditional_probabilities", "demo_9000")
_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?")


def _script() -> ModuleType:
    """scripts/make_notebooks.py as a module (scripts/ is not a package)."""
    name = "make_notebooks"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "make_notebooks.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _kernel_available() -> bool:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return "python3" in KernelSpecManager().find_kernel_specs()
    except Exception:  # noqa: BLE001 - any jupyter setup problem means: cannot run here
        return False


def _committed(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _outputs(book: Any) -> list[list[Any]]:
    return [cell.outputs for cell in book.cells if cell.cell_type == "code"]


def _text(output: Any) -> str | None:
    """What a reader sees of an output as text (stream text, an HTML table, a repr); None for a figure only."""
    if output.output_type == "stream":
        return f"{output.name}: {output.text}"
    if output.output_type == "error":
        return f"error: {output.ename}: {output.evalue}"
    data = output.get("data", {})
    for kind in ("text/html", "text/plain"):
        if kind in data:
            return f"{kind}: {data[kind]}"
    return None


def _same_text(committed: str, now: str) -> bool:
    """Equal words; numbers equal, those with decimals up to one unit in the committed number's last digit."""
    if _NUMBER.sub("#", committed) != _NUMBER.sub("#", now):
        return False
    for a, b in zip(_NUMBER.finditer(committed), _NUMBER.finditer(now), strict=True):
        if a.group(1) is None:  # a count or an index: exact
            if a.group(0) != b.group(0):
                return False
            continue
        unit = 10.0 ** (int(a.group(2) or 0) - len(a.group(1)))  # one unit in the last printed digit
        if abs(float(a.group(0)) - float(b.group(0))) > 1.01 * unit:
            return False
    return True


def _png_ok(output: Any) -> bool:
    from PIL import Image

    data = output.get("data", {}).get("image/png")
    if data is None:
        return False
    with Image.open(io.BytesIO(base64.b64decode(data))) as picture:
        picture.load()
        return picture.size[0] > 0 and picture.size[1] > 0


def test_shipped_model_loads() -> None:
    """The notebooks' model: the small copy of a trained emoji model, readable by load_model."""
    from yolo9000.darknet.checkpoint import load_checkpoint, load_model

    script = _script()
    assert script.MODEL.is_file(), "notebooks/data/emoji-model.pt is missing: scripts/make_notebooks.py --run"
    assert script.MODEL.stat().st_size < 3_000_000
    model = load_model(script.MODEL)
    assert model.tree is not None and model.head is not None
    ckpt = load_checkpoint(script.MODEL)
    assert ckpt["step"] > 0, "the shipped model is untrained"
    assert ckpt["config"] is None  # no folders of the machine that trained it
    images = sorted((script.TEST_SET / "images").glob("*.png"))
    assert len(images) == script.N_IMAGES
    truth = json.loads((script.TEST_SET / "annotations.json").read_text())
    assert {im["file_name"] for im in truth["images"]} == {p.name for p in images}
    assert {c["wnid"] for c in truth["categories"]} <= set(model.tree.ids), "test images of another world"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_in_the_scripts_form(name: str) -> None:
    """Every code cell was executed, in order, by the script (its normal form), without errors."""
    script = _script()
    book = _committed(name)
    nbformat.validate(book)
    assert script.normalise(book) == book, f"{name}: not as scripts/make_notebooks.py writes it; run it"
    code = [c for c in book.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{name}: cells not executed in order from a fresh kernel; run scripts/make_notebooks.py"
    )
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{name}: a cell failed"
    assert not script.machine_paths(book), f"{name}: outputs name folders of the machine that made them"
    outputs = [o for c in code for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no figure"
    assert any("text/html" in o.get("data", {}) for o in outputs), f"{name}: no table"


def test_text_comparison() -> None:
    assert _same_text("p 0.123 of 3 boxes", "p 0.124 of 3 boxes")
    assert not _same_text("p 0.123 of 3 boxes", "p 0.126 of 3 boxes")
    assert not _same_text("p 0.123 of 3 boxes", "p 0.123 of 4 boxes")
    assert not _same_text("label 'owl'", "label 'duck'")
    assert _same_text("score 1.088e-03", "score 1.089e-03") and not _same_text("score 1.088e-03", "score 1.088e-02")


def test_one_print_split_by_the_kernel_is_one_output() -> None:
    """The kernel flushes stdout on a timer: a print's text and its newline can arrive as two messages."""
    script = _script()
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('a'); import warnings; warnings.warn('w'); print('b')")
    stream = nbformat.v4.new_output
    cell.outputs = [
        stream("stream", name="stdout", text="a"),
        stream("stream", name="stdout", text="\n"),
        stream("stream", name="stderr", text="w\n"),
        stream("stream", name="stdout", text="b\n"),
        stream("execute_result", data={"text/plain": "1"}, execution_count=1),
    ]
    cell.execution_count = 1
    book.cells = [cell]
    outputs = script.normalise(book).cells[0].outputs
    assert [(o.output_type, o.get("name"), o.get("text")) for o in outputs] == [
        ("stream", "stdout", "a\n"),
        ("stream", "stderr", "w\n"),
        ("stream", "stdout", "b\n"),
        ("execute_result", None, None),
    ]
    assert len(book.cells[0].outputs) == 5, "normalise changed its argument"


@pytest.fixture
def kernel() -> None:
    if not _kernel_available():
        pytest.skip("no 'python3' Jupyter kernel installed (pip install ipykernel)")


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_what_the_script_writes(name: str, kernel: None) -> None:
    """Executed again from scratch by the script's own function, the notebook shows what is committed."""
    script = _script()
    committed = _committed(name)
    now = script.execute(NOTEBOOKS / f"{name}.ipynb")
    cells = [c for c in committed.cells if c.cell_type == "code"]
    for i, (old, new) in enumerate(zip(_outputs(committed), _outputs(now), strict=True)):
        where = f"{name} cell {i + 1} ({cells[i].source.splitlines()[0][:60]!r})"
        assert [o.output_type for o in new] == [o.output_type for o in old], (
            f"{where}: other outputs: was {[_text(o) for o in old]}, now {[_text(o) for o in new]}"
        )
        for a, b in zip(old, new, strict=True):
            text_a, text_b = _text(a), _text(b)
            assert (text_a is None) == (text_b is None), f"{where}: other outputs"
            if text_a is not None and text_b is not None:
                assert _same_text(text_a, text_b), f"{where}: was\n{text_a}\nnow\n{text_b}"
            assert ("image/png" in a.get("data", {})) == _png_ok(b), f"{where}: figure missing or unreadable"


def test_conditional_probabilities_on_your_own_hierarchy(tmp_path: Path, kernel: None) -> None:
    """The per-node notebook on a checkpoint whose tree is not WordNet's (user ids, as from --hierarchy)."""
    import torch

    from wordtree import WordTree
    from yolo9000.darknet.checkpoint import save_checkpoint
    from yolo9000.darknet.model import DarknetModel
    from yolo9000.emoji.recipe import emoji_model_cfg

    parents = {"acme:animals": None, "/m/dog": "acme:animals", "/m/cat": "acme:animals", "acme:vehicles": None}
    parents |= {"acme:car": "acme:vehicles", "acme:boat": "acme:vehicles", "acme:terrier": "/m/dog"}
    names = {k: k.rsplit(":", 1)[-1].rsplit("/", 1)[-1] for k in parents}
    tree = WordTree.from_edges(parents, names)
    torch.manual_seed(0)
    model = DarknetModel.from_cfg_text(emoji_model_cfg(tree, size=128), tree=tree)
    ckpt = save_checkpoint(tmp_path / "own.pt", model)
    script = _script()
    env = script._kernel_env() | {"YOLO9000_CHECKPOINT": str(ckpt)}
    book = script.execute(NOTEBOOKS / "conditional_probabilities.ipynb", env=env)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(str(o.get("text", "")) for o in outputs if o.output_type == "stream")
    label = re.search(r"label '([^']+)'", printed)
    stop = re.search(r"TreeSoftmax.predict stops at: (\S+)", printed)
    assert label and stop, printed  # the inspected detection and its walk are named by the user tree's nodes
    assert {label.group(1), stop.group(1)} <= set(tree.names)
    assert any("image/png" in o.get("data", {}) for o in outputs)
