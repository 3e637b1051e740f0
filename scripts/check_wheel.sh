#!/usr/bin/env bash
# The wheel runs on its own: build the sdist and, from it, the wheel; install the wheel into a fresh virtual
# environment (--system-site-packages: torch & co. come from the system) and, from a folder outside the checkout,
# run build-wordtree (its defaults read the shipped label lists) and `yolo9000 detect` with a tiny random model.
# Needs `build` (the dev extra); pip fetches setuptools for the isolated build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
PY=${PYTHON:-python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say() { echo "check_wheel: $*"; }

# ---- build: sdist, then the wheel from the unpacked sdist (so the sdist is checked too) ----------------------
say "building sdist + wheel"
if ! "$PY" -m build --outdir "$tmp/dist" . >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log" >&2
  say "FAILED: python -m build" >&2
  exit 1
fi
wheels=("$tmp"/dist/*.whl)
[ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || { say "FAILED: expected one wheel, got: ${wheels[*]}" >&2; exit 1; }
wheel=${wheels[0]}
say "built $(basename "$wheel")"

# ---- every module and shipped list of the checkout is in the wheel ------------------------------------------
"$PY" - "$wheel" <<'EOF'
import sys, zipfile
from pathlib import Path

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
want = [p.as_posix() for top in ("wordtree", "yolo9000") for p in Path(top).rglob("*.py") if "__pycache__" not in p.parts]
templates = Path("yolo9000/darknet/cfg_templates")
want += [p.as_posix() for p in [*templates.glob("*.cfg.in"), templates / "README.md"]]
assert len(want) > 4 and any(w.endswith(".cfg.in") for w in want), "check_wheel: no model templates found"
want += [f"wordtree/data/{p.name}" for p in Path("wordtree/data").iterdir() if p.suffix in {".py", ".csv", ".json", ".txt", ".md"}]
missing = sorted(set(want) - names)
if missing:
    sys.exit(f"check_wheel: FAILED: not in the wheel (a subpackage missing from [tool.setuptools] packages?): {missing}")
print(f"check_wheel: the wheel holds all {len(want)} modules, model templates and label lists of the checkout")
EOF

# ---- a fresh venv with the wheel ---------------------------------------------------------------------------
say "installing the wheel into a fresh venv"
"$PY" -m venv --system-site-packages "$tmp/venv"
venv_py="$tmp/venv/bin/python"
"$venv_py" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
bin="$tmp/venv/bin"

mkdir "$tmp/work"
cd "$tmp/work"  # outside the checkout: only the installed package is importable
PYTHONPATH='' "$venv_py" - "$tmp/venv" "$repo" <<'EOF'
import sys
import wordtree, yolo9000
from wordtree.builder import data_dir

venv, repo = sys.argv[1], sys.argv[2]
for mod in (wordtree, yolo9000):
    print(f"check_wheel: {mod.__name__} from {mod.__file__}")
    if not mod.__file__.startswith(venv + "/") or mod.__file__.startswith(repo + "/"):
        sys.exit(f"check_wheel: FAILED: {mod.__name__} is not the installed wheel's")
d = data_dir()
print(f"check_wheel: shipped lists in {d}: {sorted(p.name for p in d.iterdir() if not p.name.startswith('__'))}")
if not str(d).startswith(venv + "/"):
    sys.exit("check_wheel: FAILED: data_dir() is not inside the installed wheel")
EOF

# ---- build-wordtree on its defaults (COCO + ImageNet-1k from the shipped lists), then --check -----------------
say "build-wordtree (defaults) -o $tmp/work/tree"
PYTHONPATH='' "$bin/build-wordtree" -q -o tree
ls tree
tree_file=tree/wordtree.tree
[ -s "$tree_file" ] || { say "FAILED: build-wordtree wrote no $tree_file" >&2; exit 1; }
PYTHONPATH='' "$bin/build-wordtree" --check "$tree_file"

# ---- yolo9000 detect with a tiny random model on a random picture --------------------------------------------
say "yolo9000 detect with a tiny random checkpoint"
PYTHONPATH='' "$venv_py" - <<'EOF'
import numpy as np
import torch
from PIL import Image

from yolo9000.darknet.checkpoint import save_checkpoint
from yolo9000.darknet.templates import tiny_yolo

torch.manual_seed(0)
model = tiny_yolo(classes=3, size=64, width=0.25)
save_checkpoint("tiny.pt", model, names=["a", "b", "c"])
rng = np.random.default_rng(0)
Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save("random.png")
EOF
PYTHONPATH='' "$bin/yolo9000" detect --checkpoint tiny.pt random.png --out det --device cpu --thresh 0 --quiet
ls det
"$venv_py" - <<'EOF'
import json
from pathlib import Path

rows = [json.loads(line) for line in Path("det/detections.jsonl").read_text().splitlines() if line.strip()]
assert len(rows) == 1 and rows[0]["image"].endswith("random.png"), rows
for name in ("random.jpg", "index.html", "summary.jpg"):
    assert (Path("det") / name).is_file(), f"det/{name} missing"
print(f"check_wheel: detect wrote det/detections.jsonl (1 image, {len(rows[0]['detections'])} boxes) + pictures")
EOF

say "ok"
