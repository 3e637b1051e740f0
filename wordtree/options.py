"""The rules for numeric option values, defined once for every command and entry point: sizes are positive
multiples of 32, counts are positive (or >= 0 where 0 means "none"), probabilities lie in [0, 1].

They live in `wordtree`, the lowest layer, because `build-wordtree` needs them and every part of `yolo9000`
may import `wordtree` (ARCHITECTURE.md, Import direction): the commands (`yolo9000.commands.options`),
`TrainConfig`, and the library's size checks (`Detector(size=...)`, the model constructors, multi-scale sizes).

A rule is called as ``rule(value, name=None)``: it returns the value converted (text parsed, as argparse gives
it; ints to floats for number rules) or raises `ValueError` ``option 'NAME': expected DESC, got VALUE``
(``expected DESC, got VALUE`` without a name). `arg_type(rule)` is its argparse ``type=`` form.
"""

from __future__ import annotations

import argparse
import math
import numbers
import operator
from collections.abc import Callable
from typing import Any

#: network input sizes are multiples of this (the region grid is size / SIZE_STEP)
SIZE_STEP = 32


class Rule:
    """A named check: `convert` turns the value into the rule's kind (None when it cannot), `test` says
    whether the converted value is allowed, `desc` says what is expected."""

    def __init__(self, name: str, convert: Callable[[Any], Any], desc: str, test: Callable[[Any], bool]) -> None:
        self.__name__ = name
        self.convert = convert
        self.desc = desc
        self.test = test

    def __call__(self, value: Any, name: str | None = None) -> Any:
        out = self.convert(value)
        if out is None or not self.test(out):
            shown = value
            if isinstance(value, str) and out is not None:
                shown = out  # text that parsed: show the number
            where = f"option {name!r}: " if name else ""
            raise ValueError(f"{where}expected {self.desc}, got {shown!r}")
        return out

    def __repr__(self) -> str:
        return f"<rule {self.__name__}: {self.desc}>"


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    try:
        return operator.index(value)  # int and numpy integers, never floats
    except TypeError:
        return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, numbers.Real):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


positive_int = Rule("positive_int", _to_int, "a positive integer", lambda v: v > 0)
non_negative_int = Rule("non_negative_int", _to_int, "an integer >= 0", lambda v: v >= 0)
size32 = Rule("size32", _to_int, f"a positive multiple of {SIZE_STEP}", lambda v: v >= SIZE_STEP and v % SIZE_STEP == 0)
positive_float = Rule("positive_float", _to_float, "a positive number", lambda v: v > 0)
non_negative_float = Rule("non_negative_float", _to_float, "a number >= 0", lambda v: v >= 0)
probability = Rule("probability", _to_float, "a number in [0, 1]", lambda v: 0 <= v <= 1)
#: a score threshold: a score equal to 1 could never pass a strict ">"
threshold = Rule("threshold", _to_float, "a number in [0, 1)", lambda v: 0 <= v < 1)
#: an NMS IoU threshold: 0 would suppress every overlapping box, 1 keeps everything
iou_threshold = Rule("iou_threshold", _to_float, "a number in (0, 1]", lambda v: 0 < v <= 1)


def arg_type(rule: Rule) -> Callable[[str], Any]:
    """`rule` as an argparse ``type=``: a bad value ends the command with exit code 2 and
    ``argument --NAME: expected DESC, got VALUE``."""

    def parse(text: str) -> Any:
        try:
            return rule(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = rule.__name__
    return parse
