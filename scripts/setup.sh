#!/usr/bin/env bash
# One-time, idempotent set-up on a Debian-like machine: system packages (WordNet 3.0, the emoji font)
# and the Python package with its dependencies. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -f /usr/share/wordnet/data.noun ] || need_apt+=(wordnet-base wordnet-sense-index)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need_apt+=(fonts-noto-color-emoji)
# the report's browser test (tests/test_report_browser.py) drives Debian's headless chromium
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: cannot install ${need_apt[*]} (needs apt-get as root)." >&2
    echo "setup: get WordNet instead with:  python -c \"import nltk; nltk.download('wordnet')\"" >&2
    echo "setup: and pass --font PATH to 'yolo9000 emoji-world' for an emoji font." >&2
    echo "setup: (without chromium the report's browser test skips)" >&2
  fi
fi

PY=${PYTHON:-python3}
# (re)install when a dependency is missing or the installed package points at another checkout
here=$(pwd -P)
# (the dev tools too: ruff, mypy and build are what .ci/run and scripts/check_wheel.sh use; and wordtree.data,
# the top-level data/ folder, which an install made before it was a package does not map; and TensorBoard,
# which `yolo9000 train` writes to when it is installed, as the README shows)
if ! (cd / && "$PY" -c "import sys, wordtree, wordtree.data, yolo9000, torchvision, pycocotools, nbclient, yaml
import ruff, mypy, build, onnx, onnxruntime, openvino, tensorboard
sys.exit(0 if wordtree.__file__.startswith('$here/') else 1)") >/dev/null 2>&1; then
  echo "setup: installing the yolo9000 package and its dependencies (pip)"
  "$PY" -m pip install -q --disable-pip-version-check -e ".[dev,onnx,openvino,tensorboard]"
fi
echo "setup: done"
