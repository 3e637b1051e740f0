"""``python -m wordtree``: the ``build-wordtree`` command line."""

import sys

from wordtree.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python3 -m wordtree"))
