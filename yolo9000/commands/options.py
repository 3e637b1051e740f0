"""argparse ``type=`` checks for the numeric options of every `yolo9000` command.

The rules themselves live once in `wordtree.options` (also used by `build-wordtree`, `TrainConfig` and the
library's size checks); these are their command-line forms: a bad value ends the command with exit code 2 and
``argument --NAME: expected ..., got ...``.
"""

from __future__ import annotations

from wordtree import options

positive_int = options.arg_type(options.positive_int)
non_negative_int = options.arg_type(options.non_negative_int)
size32 = options.arg_type(options.size32)
probability = options.arg_type(options.probability)
positive_float = options.arg_type(options.positive_float)
non_negative_float = options.arg_type(options.non_negative_float)
