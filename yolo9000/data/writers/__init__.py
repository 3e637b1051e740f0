"""Writing a dataset in another format: COCO + class folders, Ultralytics YOLO, Darknet's combine9k lists, Pascal
VOC and Open Images (`write_coco`, `write_yolo`, `write_darknet`, `write_voc`, `write_open_images`).

Every writer takes the same neutral records: `Picture` (an image file, its size, its boxes in pixels with class
indices, or the one class of a classification-only picture) and a `ClassList` (the names and node ids the class
indices point into; a tree when they are tree nodes). `pictures_of` makes them from any `LabelledSource`.

The rules every writer keeps:

- ``out`` must be a new or empty folder; anything else is refused with one line, and nothing is ever written
  outside it. The dataset is written into a hidden sibling folder and renamed to ``out`` when complete, so an
  interrupted run leaves no half dataset (the small files beside the labels go through
  `wordtree.files.write_text_atomic`; the label files, one per picture, are plain writes inside that folder).
- Images are placed in ``out`` as absolute symlinks (``link="symlink"``, the default), copies or hard links,
  never modified. Their paths below ``out`` keep the sub-paths below the pictures' common folder, so two
  pictures cannot share a name; where a format's own rule would still give two of them one label file (``a.png``
  and ``a.jpg``), the later one is renamed ``a~1.jpg``. A picture listed twice is written once.
- Boxes are clipped to their picture, and those left with no area are dropped (as training does).
- Classes go into a format that keeps only a name by their display name when that name finds the class again
  ("a node id, or the one node of that display name": unique, and no other class's id), else by their id.
- Formats without classification-only pictures (YOLO, VOC) or without a ``difficult`` flag (YOLO, Darknet,
  Open Images) leave those out, counted in the returned counts and logged; training leaves difficult boxes out
  anyway, so the training targets stay the same.

Each writer returns its counts: ``images``, ``boxes``, ``classification_images``, ``background_images`` written,
and what was left out (``left_out_classification``, ``left_out_difficult``, ``left_out_background``,
``dropped_boxes``, ``duplicates``), with the same keys under ``"val"`` for the held-out split (`val=`). A writer
holds the pictures' records in memory (a few hundred bytes each) to find their common folder and the classes used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yolo9000.data.writers.coco import write_coco
from yolo9000.data.writers.darknet import write_darknet
from yolo9000.data.writers.open_images import (
    OI_BOX_HEADER,
    OI_LABEL_HEADER,
    OI_SOURCE,
    hierarchy_json,
    write_open_images,
)
from yolo9000.data.writers.records import ClassList, Picture, picture, pictures_of
from yolo9000.data.writers.staging import COORD, LINKS
from yolo9000.data.writers.voc import voc_colour, write_voc
from yolo9000.data.writers.yolo import write_yolo

__all__ = [
    "Picture",
    "picture",
    "ClassList",
    "pictures_of",
    "LINKS",
    "COORD",
    "write_coco",
    "write_yolo",
    "write_darknet",
    "write_voc",
    "voc_colour",
    "write_open_images",
    "hierarchy_json",
    "OI_BOX_HEADER",
    "OI_LABEL_HEADER",
    "OI_SOURCE",
    "WRITERS",
]

#: the writers by the name `yolo9000 data convert --to` and `emoji-world --formats` give them
WRITERS: dict[str, Callable[..., dict[str, Any]]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "darknet": write_darknet,
    "voc": write_voc,
    "openimages": write_open_images,
}
