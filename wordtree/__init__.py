"""WordTree: label hierarchies (YOLO9000's WordTree) from WordNet and from your own files, their file formats and
the tree softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wordtree.tree import LabelMap, TreeError, WordTree

if TYPE_CHECKING:  # what the lazy attributes below are, for type checkers
    from wordtree.builder import build_wordtree
    from wordtree.softmax import TreeSoftmax

__all__ = ["WordTree", "LabelMap", "TreeError", "build_wordtree", "TreeSoftmax"]


def __getattr__(name: str) -> Any:
    # heavy parts (NLTK, torch) load only when asked for
    if name == "build_wordtree":
        from wordtree.builder import build_wordtree

        return build_wordtree
    if name == "TreeSoftmax":
        from wordtree.softmax import TreeSoftmax

        return TreeSoftmax
    raise AttributeError(f"module 'wordtree' has no attribute {name!r}")
