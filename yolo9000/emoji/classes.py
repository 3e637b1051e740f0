"""The emoji world's class table: which emoji stands for which WordNet noun synset, fine and coarse.

Every fine class is drawn from one Noto Color Emoji glyph and named by its WordNet 3.0 noun id; its
coarse label is the COCO-like parent that detection boxes carry (a penguin is boxed as "bird"). One
whole branch (insects) never gets a detection box: joint training must find it from class folders only.

The ids were checked against WordNet 3.0 (`tests/test_emoji_world.py` re-checks each one is a noun synset
lying below its coarse parent). Note WordNet's own taxonomy: a sailboat is a sailing vessel, not a boat,
so the coarse label is "vessel"; tigers are big cats, not `cat`, so the coarse label is "feline".

A second taxonomy, "habitat", puts the same emoji in a hierarchy that is not WordNet's (animals of the sky,
water and land, vehicles by medium, fruit by colour, and the never-boxed "minibeasts"), with user ids: the
fine class ``penguin`` is named ``penguin``, its boxed parent is ``water-animals``. The pictures are the same
(the same emoji are boxed or never boxed); only the labels and the tree differ.
"""

from __future__ import annotations

from dataclasses import dataclass

#: coarse label name -> wnid, in category order (COCO category ids are 1-based positions in this order)
COARSE: dict[str, str] = {
    "bird": "n01503061",
    "canine": "n02083346",
    "feline": "n02120997",
    "equine": "n02374149",
    "car": "n02958343",
    "bus": "n02924116",
    "vessel": "n04530566",
    "aircraft": "n02686568",
    "fruit": "n07705931",  # edible fruit
    "insect": "n02159955",
}

#: coarse labels that never get a detection box (the "no-box branch")
NO_BOX: frozenset[str] = frozenset({"insect"})


@dataclass(frozen=True)
class EmojiClass:
    """One fine class: the emoji that draws it, its WordNet id and its coarse (COCO-like) parent label."""

    emoji: str
    name: str
    wnid: str
    coarse: str
    core: bool  # part of the default ("core") world; the "all" world adds the others

    @property
    def codepoint(self) -> str:
        """The glyph's code points as U+XXXX (joined by spaces)."""
        return " ".join(f"U+{ord(c):04X}" for c in self.emoji)

    @property
    def coarse_wnid(self) -> str:
        return COARSE[self.coarse]

    @property
    def boxed(self) -> bool:
        """True when the coarse parent has detection boxes (False for the no-box branch)."""
        return self.coarse not in NO_BOX


def _c(emoji: str, name: str, wnid: str, coarse: str, core: bool = True) -> EmojiClass:
    return EmojiClass(emoji, name, wnid, coarse, core)


#: every fine class, grouped by coarse label (order = fine category order in the COCO files)
CLASSES: tuple[EmojiClass, ...] = (
    _c("\U0001f427", "penguin", "n02055803", "bird"),
    _c("\U0001f989", "owl", "n01621127", "bird"),
    _c("\U0001f986", "duck", "n01846331", "bird"),
    _c("\U0001f99c", "parrot", "n01816887", "bird"),
    _c("\U0001f985", "eagle", "n01613294", "bird", False),
    _c("\U0001f9a9", "flamingo", "n02007558", "bird", False),
    _c("\U0001f9a2", "swan", "n01858441", "bird", False),
    _c("\U0001f429", "poodle", "n02113335", "canine"),
    _c("\U0001f9ae", "guide dog", "n02109150", "canine"),
    _c("\U0001f98a", "fox", "n02118333", "canine"),
    _c("\U0001f43a", "wolf", "n02114100", "canine", False),
    _c("\U0001f408", "domestic cat", "n02121808", "feline"),
    _c("\U0001f405", "tiger", "n02129604", "feline"),
    _c("\U0001f981", "lion", "n02129165", "feline"),
    _c("\U0001f406", "leopard", "n02128385", "feline", False),
    _c("\U0001f40e", "horse", "n02374451", "equine", False),
    _c("\U0001f993", "zebra", "n02391049", "equine", False),
    _c("\U0001facf", "donkey", "n02389559", "equine", False),
    _c("\U0001f695", "taxi", "n02930766", "car"),
    _c("\U0001f693", "police car", "n03141065", "car"),
    _c("\U0001f691", "ambulance", "n02701002", "car"),
    _c("\U0001f3ce", "racing car", "n04037443", "car", False),
    _c("\U0001f699", "sport utility", "n04285965", "car", False),
    _c("\U0001f68e", "trolleybus", "n04487081", "bus", False),
    _c("\U0001f690", "minibus", "n03769881", "bus", False),
    _c("\u26f5", "sailboat", "n04128499", "vessel"),
    _c("\U0001f6f6", "canoe", "n02951358", "vessel"),
    _c("\U0001f6a4", "speedboat", "n04273569", "vessel"),
    _c("\U0001f6a2", "ship", "n04194289", "vessel", False),
    _c("\u2708", "airplane", "n02691156", "aircraft", False),
    _c("\U0001f681", "helicopter", "n03512147", "aircraft", False),
    _c("\U0001f34b", "lemon", "n07749582", "fruit"),
    _c("\U0001f350", "pear", "n07767847", "fruit"),
    _c("\U0001f352", "cherry", "n07757132", "fruit"),
    _c("\U0001f34c", "banana", "n07753592", "fruit"),
    _c("\U0001f353", "strawberry", "n07745940", "fruit", False),
    _c("\U0001f347", "grape", "n07758680", "fruit", False),
    _c("\U0001f349", "watermelon", "n07756951", "fruit", False),
    _c("\U0001f34d", "pineapple", "n07753275", "fruit", False),
    _c("\U0001f41d", "bee", "n02206856", "insect"),
    _c("\U0001f98b", "butterfly", "n02274259", "insect"),
    _c("\U0001f41c", "ant", "n02219486", "insect"),
    _c("\U0001f41e", "ladybug", "n02165456", "insect"),
    _c("\U0001f997", "cricket", "n02229544", "insect", False),
)

#: emoji used only as background clutter (fragments, no labels): none of them is, or lies below, any class
#: of the table (no fruit, animals or vehicles), nor looks like one in pieces (no crescent moon: a banana)
CLUTTER: tuple[str, ...] = tuple(
    "\U0001f338\U0001f33b\U0001f333\U0001f335\u26bd\U0001f3c0\U0001f388\U0001f3e0\u2b50\U0001f525"
    "\U0001f4a7\u2601\U0001f381\U0001f4e6\U0001f3b8\u23f0\U0001f4a1\U0001f9f1"
    "\U0001f308\u2693\U0001f9f2\U0001f4d8\u2602\U0001f3b2"
)

CLASS_SETS = ("core", "all")

TAXONOMIES = ("wordnet", "habitat")

#: the habitat taxonomy's inner nodes: id -> (parent id or "", display name), parents first
HABITAT_NODES: dict[str, tuple[str, str]] = {
    "animals": ("", "animals"),
    "sky-animals": ("animals", "sky animals"),
    "water-animals": ("animals", "water animals"),
    "land-animals": ("animals", "land animals"),
    "minibeasts": ("animals", "minibeasts"),
    "vehicles": ("", "vehicles"),
    "land-vehicles": ("vehicles", "land vehicles"),
    "water-vehicles": ("vehicles", "water vehicles"),
    "air-vehicles": ("vehicles", "air vehicles"),
    "fruit": ("", "fruit"),
    "yellow-fruit": ("fruit", "yellow fruit"),
    "red-fruit": ("fruit", "red fruit"),
    "green-fruit": ("fruit", "green fruit"),
}
#: the habitat label (boxes carry it) of each fine class, by the WordNet world's coarse label or by fine name
_HABITAT_BY_COARSE = {
    "canine": "land-animals",
    "feline": "land-animals",
    "equine": "land-animals",
    "car": "land-vehicles",
    "bus": "land-vehicles",
    "vessel": "water-vehicles",
    "aircraft": "air-vehicles",
    "insect": "minibeasts",
}
_HABITAT_BY_NAME = {
    "penguin": "water-animals",
    "duck": "water-animals",
    "flamingo": "water-animals",
    "swan": "water-animals",
    "owl": "sky-animals",
    "parrot": "sky-animals",
    "eagle": "sky-animals",
    "lemon": "yellow-fruit",
    "banana": "yellow-fruit",
    "pineapple": "yellow-fruit",
    "cherry": "red-fruit",
    "strawberry": "red-fruit",
    "watermelon": "red-fruit",
    "pear": "green-fruit",
    "grape": "green-fruit",
}


def _check_taxonomy(taxonomy: str) -> None:
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown emoji taxonomy {taxonomy!r}; choose one of {', '.join(TAXONOMIES)}")


def fine_id(c: EmojiClass, taxonomy: str = "wordnet") -> str:
    """The node id of a fine class: its wnid, or in the habitat taxonomy its name with hyphens (``guide-dog``)."""
    _check_taxonomy(taxonomy)
    return c.wnid if taxonomy == "wordnet" else c.name.replace(" ", "-")


def coarse_of(c: EmojiClass, taxonomy: str = "wordnet") -> str:
    """The coarse label of a fine class (what its detection boxes carry): "bird", or "water animals"."""
    _check_taxonomy(taxonomy)
    if taxonomy == "wordnet":
        return c.coarse
    return HABITAT_NODES[_HABITAT_BY_NAME.get(c.name) or _HABITAT_BY_COARSE[c.coarse]][1]


def coarse_id(label: str, taxonomy: str = "wordnet") -> str:
    """The node id of a coarse label: its wnid, or its habitat id."""
    _check_taxonomy(taxonomy)
    if taxonomy == "wordnet":
        return COARSE[label]
    return next(k for k, (_, name) in HABITAT_NODES.items() if name == label)


def coarse_boxed(label: str, classes: tuple[EmojiClass, ...], taxonomy: str = "wordnet") -> bool:
    """True when the coarse label gets detection boxes (some fine class below it is boxed)."""
    return any(c.boxed for c in classes if coarse_of(c, taxonomy) == label)


def habitat_rows(classes: tuple[EmojiClass, ...]) -> list[tuple[str, str, str]]:
    """The habitat hierarchy as ``(id, parent, name)`` rows (the world's hierarchy.csv): the inner nodes the
    classes use, then the fine classes."""
    used = {coarse_id(coarse_of(c, "habitat"), "habitat") for c in classes}
    used |= {HABITAT_NODES[u][0] for u in used}
    rows = [(k, par, name) for k, (par, name) in HABITAT_NODES.items() if k in used]
    rows += [(fine_id(c, "habitat"), coarse_id(coarse_of(c, "habitat"), "habitat"), c.name) for c in classes]
    return rows


def select_classes(class_set: str = "core") -> tuple[EmojiClass, ...]:
    """The fine classes of a world: "core" (24 classes, 7 coarse labels, the default) or "all"."""
    if class_set == "all":
        return CLASSES
    if class_set == "core":
        return tuple(c for c in CLASSES if c.core)
    raise ValueError(f"unknown emoji class set {class_set!r}; choose one of {', '.join(CLASS_SETS)}")


def coarse_labels(classes: tuple[EmojiClass, ...], taxonomy: str = "wordnet") -> list[str]:
    """Coarse labels used by `classes`, in `COARSE` (or `HABITAT_NODES`) order (boxed and no-box ones)."""
    used = {coarse_of(c, taxonomy) for c in classes}
    order = list(COARSE) if taxonomy == "wordnet" else [name for _, name in HABITAT_NODES.values()]
    return [name for name in order if name in used]
