"""Regenerate the notebooks' committed outputs (and, from a training run, the small model they use).

    python3 scripts/make_notebooks.py --run runs/emoji   # copy the run's model and test images, then execute
    python3 scripts/make_notebooks.py                    # execute again with the committed model
    python3 scripts/make_notebooks.py demo_9000          # one notebook

The notebooks are the source of truth for their cells: edit them in Jupyter, then run this script, which
executes them in place in a fresh kernel (cwd: notebooks/) and writes them in one normal form: sequential
execution counts, no timing or widget metadata, the kernel named but not its version. `--run` first writes
`notebooks/data/emoji-model.pt` (the run's best.pt, else last.pt: weights in float16, cfg text, tree, names;
what `yolo9000.darknet.checkpoint.load_model` reads) and `notebooks/data/emoji-test/` (a few test images of
the world the run validated on, with their boxes). tests/test_notebooks.py checks that the committed
notebooks are in that form and that executing them again gives the committed outputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
DATA = NOTEBOOKS / "data"
MODEL = DATA / "emoji-model.pt"
TEST_SET = DATA / "emoji-test"
NAMES = ("wordtree", "conditional_probabilities", "demo_9000")
N_IMAGES = 4  # test images shipped: enough for a grid, small enough for the repository
MIN_BOXES = 3  # ... each with at least this many objects, so that the pictures show something
KERNEL = "python3"
TIMEOUT_S = 300
# environment variables the notebooks read: unset while the script executes them, so that the outputs do not
# depend on the shell this script was started from
SETTINGS = (
    "YOLO9000_CHECKPOINT",
    "YOLO9000_CFG",
    "YOLO9000_WEIGHTS",
    "YOLO9000_TREE",
    "YOLO9000_NAMES",
    "YOLO9000_IMAGE",
    "YOLO9000_NODE",
    "YOLO9000_HIER_THRESH",
    "YOLO9000_THRESH",
)
BOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": KERNEL},
    "language_info": {"name": "python"},
}


# ---- the model and images the notebooks use ---------------------------------------------------------------
def run_checkpoint(run: Path) -> Path:
    """The checkpoint of a training run the notebooks show: best.pt (best validation score), else last.pt."""
    for name in ("best.pt", "last.pt"):
        if (run / name).is_file():
            return run / name
    raise SystemExit(f"--run {run}: no best.pt or last.pt (train one with `yolo9000 train --out {run}`)")


def copy_model(checkpoint: Path, out: Path = MODEL) -> Path:
    """A small copy of `checkpoint` that `load_model` reads: float16 weights (restored to float32 on loading),
    cfg text, tree, names, and where it came from (step and validation score; no paths of this machine)."""
    from yolo9000.darknet.checkpoint import atomic_save, load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    small = {k: ckpt.get(k) for k in ("version", "cfg_text", "tree", "tree_fingerprint", "names", "step", "seen")}
    small["model"] = weights
    small["config"] = None  # the run's options name folders of the machine it ran on
    small["notebook_source"] = {"checkpoint": checkpoint.name, "step": int(ckpt.get("step", 0)), **_val(ckpt)}
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save(small, out)  # two copies of one checkpoint are byte-identical


def _val(ckpt: dict[str, Any]) -> dict[str, float]:
    """The validation score a training checkpoint records (best.pt: its metric and value), if any."""
    best = ckpt.get("best")
    if isinstance(best, dict) and isinstance(best.get("value"), int | float):
        return {str(best.get("metric", "val")): round(float(best["value"]), 4)}
    return {}


def _read_options(run: Path) -> dict[str, Any]:
    import yaml

    path = run / "config.yaml"
    if not path.is_file():
        raise SystemExit(f"--run {run}: no config.yaml (not a `yolo9000 train` output folder)")
    options = yaml.safe_load(path.read_text())
    if not isinstance(options, dict):
        raise SystemExit(f"{path}: not a mapping of options")
    return options


def copy_test_images(run: Path, out: Path = TEST_SET) -> Path:
    """The first `N_IMAGES` validation images of `run` with at least `MIN_BOXES` boxes, and their boxes (a COCO
    JSON): pictures the model did not train on, drawn from the world it trained on."""
    options = _read_options(run)
    if not options.get("val_coco"):
        raise SystemExit(f"--run {run}: trained without validation data (val_coco), so no held-out images")
    coco_path = Path(options["val_coco"])
    images_dir = Path(options.get("val_images") or coco_path.parent / "images")
    coco = json.loads(coco_path.read_text())
    counts: dict[int, int] = {}
    for a in coco["annotations"]:
        counts[a["image_id"]] = counts.get(a["image_id"], 0) + 1
    chosen = [im for im in sorted(coco["images"], key=lambda im: im["id"]) if counts.get(im["id"], 0) >= MIN_BOXES]
    chosen = chosen[:N_IMAGES]
    if len(chosen) < N_IMAGES:
        raise SystemExit(f"{coco_path}: fewer than {N_IMAGES} images with {MIN_BOXES} or more boxes")
    ids = {im["id"] for im in chosen}
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    for im in chosen:
        shutil.copyfile(images_dir / im["file_name"], out / "images" / im["file_name"])
    subset = {
        "info": coco.get("info", {}),
        "images": chosen,
        "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
        "categories": coco["categories"],
    }
    (out / "annotations.json").write_text(json.dumps(subset, indent=1, ensure_ascii=False) + "\n")
    return out


# ---- executing and normalising ------------------------------------------------------------------------------
def _merged_streams(outputs: list[Any]) -> list[Any]:
    """`outputs` with each run of stream outputs to the same stream made one: the kernel flushes stdout on a
    timer, so a busy machine can split one `print` (its text, then its newline) into two messages."""
    merged: list[Any] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None
            and output.output_type == "stream"
            and last.output_type == "stream"
            and last.name == output.name
        ):
            last.text += output.text
        else:
            merged.append(output)
    return merged


def normalise(book: Any) -> Any:
    """`book` (an nbformat NotebookNode) in the committed form: notebook metadata reduced to the kernel's name,
    cell metadata without execution timing, sequential execution counts on executed cells, one output per run of
    text to the same stream."""
    book = copy.deepcopy(book)
    book.metadata = type(book.metadata)(copy.deepcopy(BOOK_METADATA))
    count = 0
    for cell in book.cells:
        cell.metadata.pop("execution", None)
        cell.pop("id", None)  # nbformat 4.5 cell ids are random: the notebooks stay on 4.4
        if cell.cell_type != "code":
            continue
        cell.outputs = _merged_streams(cell.outputs)
        if cell.execution_count is not None or cell.outputs:
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
                output.get("metadata", {}).pop("execution", None)
    book.nbformat, book.nbformat_minor = 4, 4
    return book


def _kernel_env() -> dict[str, str]:
    """This process's environment for the kernel: no notebook settings, the repository importable."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


def execute(path: Path, *, env: dict[str, str] | None = None, timeout: int = TIMEOUT_S) -> Any:
    """Execute the notebook at `path` from scratch in a fresh kernel (cwd: its folder); the normalised result.

    Raises `nbclient.exceptions.CellExecutionError` on the first failing cell."""
    import nbclient
    import nbformat

    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env if env is not None else _kernel_env())
    try:  # the kernel is started with this process's environment
        client = nbclient.NotebookClient(
            book,
            timeout=timeout,
            kernel_name=KERNEL,
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return normalise(book)


def machine_paths(book: Any) -> list[str]:
    """Outputs that name a folder of this machine (the repository, the home or temporary folder)."""
    roots = {str(REPO), str(Path.home()), "/tmp/"}
    found = []
    for i, cell in enumerate(book.cells):
        for output in cell.get("outputs", []):
            text = json.dumps({k: v for k, v in output.get("data", {}).items() if not k.startswith("image/")})
            text += str(output.get("text", ""))
            hits = [r for r in roots if r in text]
            if hits:
                found.append(f"cell {i}: {hits[0]}")
    return found


def write(book: Any, path: Path) -> None:
    """Write `book` as the committed file: nbformat's JSON (1-space indent, sorted keys), newline at the end."""
    import nbformat

    text = nbformat.writes(book)
    path.write_text(text if text.endswith("\n") else text + "\n")


def make(names: Sequence[str]) -> None:
    """Execute and write each named notebook, refusing outputs that name this machine's folders."""
    for name in names:
        path = NOTEBOOKS / f"{name}.ipynb"
        print(f"executing {path.relative_to(REPO)} ...", flush=True)
        book = execute(path)
        leaks = machine_paths(book)
        if leaks:
            raise SystemExit(f"{path}: outputs name folders of this machine ({'; '.join(leaks)}); print names only")
        write(book, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: optionally copy a run's model and images, then execute the notebooks in place."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"notebooks to execute (default: all of {NAMES})")
    parser.add_argument("--run", type=Path, help="a `yolo9000 train` output folder to take the model from")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown notebook {unknown[0]!r} (choose from {', '.join(NAMES)})")
    if args.run is not None:
        checkpoint = run_checkpoint(args.run)
        print(f"model: {copy_model(checkpoint).relative_to(REPO)} from {checkpoint}")
        print(f"images: {copy_test_images(args.run).relative_to(REPO)}")
    if not MODEL.is_file():
        raise SystemExit(f"{MODEL}: missing; make it with --run runs/emoji (a `yolo9000 train` output folder)")
    make(args.names or NAMES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
