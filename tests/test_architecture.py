"""The package layout keeps its promises: imports point one way (the layers below) and no modules import
each other in a circle. Read from the source with `ast`, so imports inside functions count too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("wordtree", "yolo9000")

# what each part of the code may import (besides itself); wordtree knows nothing of detection
ALLOWED: dict[str, set[str]] = {
    "wordtree": set(),
    "yolo9000.device": set(),
    # progress bars on a terminal, a line per 10% in logs (the long stages of every command)
    "yolo9000.progress": {"wordtree"},
    "yolo9000.detection": {"wordtree"},
    "yolo9000.darknet": {"wordtree", "yolo9000.detection"},
    # the dataset readers show progress over large label sets (`yolo9000 data check`, the Open Images index)
    "yolo9000.data": {"wordtree", "yolo9000.progress", "yolo9000.detection"},
    "yolo9000.inference": {
        "wordtree",
        "yolo9000.device",
        "yolo9000.progress",
        "yolo9000.detection",
        "yolo9000.darknet",
        "yolo9000.data",
    },
    # evaluation runs the detector that `detect` runs; training validates through evaluation
    "yolo9000.evaluation": {
        "wordtree",
        "yolo9000.device",
        "yolo9000.progress",
        "yolo9000.detection",
        "yolo9000.darknet",
        "yolo9000.data",
        "yolo9000.inference",
    },
    "yolo9000.training": {
        "wordtree",
        "yolo9000.device",
        "yolo9000.progress",
        "yolo9000.detection",
        "yolo9000.darknet",
        "yolo9000.data",
        "yolo9000.inference",
        "yolo9000.evaluation",
    },
    # the worked example: its recipe builds on training; only the commands (and tests, notebooks) use it
    "yolo9000.emoji": {
        "wordtree",
        "yolo9000.device",
        "yolo9000.progress",
        "yolo9000.detection",
        "yolo9000.darknet",
        "yolo9000.data",
        "yolo9000.training",
    },
    # the public names of `import yolo9000` (loaded lazily)
    "yolo9000": {"yolo9000.detection", "yolo9000.darknet", "yolo9000.inference"},
    "yolo9000.commands": {"*"},
    "yolo9000.cli": {"yolo9000.commands", "wordtree"},  # wordtree.version: one --version for every command
    "yolo9000.__main__": {"yolo9000.cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.Module, import_time: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, or with `import_time` only those run when the module is imported (not inside
    functions, not under `if TYPE_CHECKING:`)."""
    if not import_time:
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_type_checking(node):
            todo.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
    return found


def _imports(path: Path, module: str, files: set[str], import_time: bool = False) -> set[str]:
    """The project modules that `path` imports: a `from pkg import name` counts as `pkg.name` when that is a
    module, else as `pkg`; `pkg.mod.func` counts as `pkg.mod`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path)), import_time):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
        for target in names:
            while target not in files and "." in target:
                target = target.rpartition(".")[0]
            if target in files and target != module:
                found.add(target)
    return found


def _graph(import_time: bool = False) -> nx.DiGraph:
    """Module -> module it imports, for every module of PACKAGES."""
    paths = {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}
    g = nx.DiGraph()
    g.add_nodes_from(paths)
    for module, path in paths.items():
        g.add_edges_from((module, target) for target in _imports(path, module, set(paths), import_time))
    return g


def _part(module: str) -> str:
    """The entry of ALLOWED a module belongs to: the longest prefix that has one."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in ALLOWED:
            return key
    raise KeyError(module)


def test_every_module_belongs_to_a_part():
    unknown = [m for m in _graph() if not any(m == k or m.startswith(k + ".") for k in ALLOWED)]
    assert not unknown, f"modules outside every layer of ALLOWED: {unknown}"


def test_imports_point_one_way():
    wrong = []
    for a, b in _graph().edges:
        pa, pb = _part(a), _part(b)
        if pa != pb and "*" not in ALLOWED[pa] and pb not in ALLOWED[pa]:
            wrong.append(f"{a} imports {b} ({pa} may import only {sorted(ALLOWED[pa]) or 'nothing'})")
    assert not wrong, "imports against the layer direction:\n" + "\n".join(wrong)


def test_no_import_cycles():
    """No cycle among the imports that run at import time (a lazy import inside a function is allowed to
    point back, as `WordTree.save` does to `wordtree.formats`)."""
    cycles = list(nx.simple_cycles(_graph(import_time=True)))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:10])


def test_the_checker_sees_wrong_arrows(tmp_path, monkeypatch):
    """The rules bite: a detection module importing the trainer is reported (a test that can fail)."""
    for folder in ("yolo9000/detection", "yolo9000/training", "wordtree"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "yolo9000/training/trainer.py").write_text("class Trainer: ...\n")
    (tmp_path / "yolo9000/detection/bad.py").write_text("def f():\n    from yolo9000.training.trainer import Trainer\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    with pytest.raises(AssertionError, match="yolo9000.detection.bad imports yolo9000.training.trainer"):
        test_imports_point_one_way()


def test_top_level_stays_small():
    top = sorted(p.name for p in (REPO / "yolo9000").glob("*.py"))
    assert len(top) <= 8, f"yolo9000/ has {len(top)} top-level modules: {top}"
