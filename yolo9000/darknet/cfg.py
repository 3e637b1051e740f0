"""Darknet `.cfg` parsing: `[section]` headers, `key=value` options, comments, and Darknet's defaults.

The parser knows which sections the model can build; an unknown one is an error naming the file and line,
so a typo (`[convolutinal]`) never becomes a silently skipped layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

# section names as Darknet spells them, with its aliases folded onto one canonical name
SECTION_ALIASES: dict[str, str] = {
    "net": "net",
    "network": "net",
    "convolutional": "convolutional",
    "conv": "convolutional",
    "maxpool": "maxpool",
    "max": "maxpool",
    "avgpool": "avgpool",
    "avg": "avgpool",
    "route": "route",
    "reorg": "reorg",
    "region": "region",
    "softmax": "softmax",
    "soft": "softmax",
    "cost": "cost",
    "dropout": "dropout",
    "shortcut": "shortcut",
    "upsample": "upsample",
    # ours, not Darknet's: a slice of a torchvision backbone (yolo9000.darknet.torchvision_backbone)
    "torchvision": "torchvision",
}


@dataclass
class Section:
    """One `[name]` block: canonical `name`, its `options` (raw strings) and where it came from."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0
    source: str = "<cfg>"
    header: str = ""

    def where(self) -> str:
        """`file:line [name]` for error messages."""
        return f"{self.source}:{self.line} [{self.header or self.name}]"

    def has(self, key: str) -> bool:
        return key in self.options

    @overload
    def get_str(self, key: str, default: str) -> str: ...
    @overload
    def get_str(self, key: str, default: None = None) -> str | None: ...
    def get_str(self, key: str, default: str | None = None) -> str | None:
        """The raw option value, or `default` when absent."""
        return self.options.get(key, default)

    def get_int(self, key: str, default: int) -> int:
        """An integer option; Darknet reads ints with `atoi`, we insist on a clean number."""
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            try:  # Darknet's atoi("1.0") is 1; accept integral floats only
                val = float(raw)
            except ValueError:
                val = float("nan")
            if val == val and val == int(val):
                return int(val)
            raise ValueError(f"{self.where()}: option {key}={raw!r} is not an integer") from None

    def get_float(self, key: str, default: float) -> float:
        """A float option (Darknet's `atof`)."""
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{self.where()}: option {key}={raw!r} is not a number") from None

    def get_floats(self, key: str) -> list[float] | None:
        """A comma-separated list of floats, or None when absent."""
        raw = self.options.get(key)
        if raw is None:
            return None
        try:
            return [float(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{self.where()}: option {key}={raw!r} is not a comma-separated list of numbers") from None

    def get_ints(self, key: str) -> list[int] | None:
        """A comma-separated list of integers, or None when absent."""
        raw = self.options.get(key)
        if raw is None:
            return None
        try:
            return [int(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise ValueError(
                f"{self.where()}: option {key}={raw!r} is not a comma-separated list of integers"
            ) from None


def parse_cfg(text: str, source: str = "<cfg>") -> list[Section]:
    """Parse cfg text into sections; the first must be `[net]`.

    Like Darknet: blank lines and lines starting with `#` or `;` are skipped, spaces inside a line are
    ignored (`saturation = 1.5`), and a later duplicate key wins. Unlike Darknet, malformed lines are errors.
    """
    sections: list[Section] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValueError(f"{source}:{lineno}: section header {line!r} is missing its closing ']'")
            header = line[1:-1].strip()
            name = SECTION_ALIASES.get(header.lower())
            if name is None:
                known = ", ".join(sorted({v for v in SECTION_ALIASES.values()}))
                raise ValueError(f"{source}:{lineno}: unknown section [{header}] (supported: {known})")
            sections.append(Section(name=name, line=lineno, source=source, header=header))
            continue
        if "=" not in line:
            raise ValueError(f"{source}:{lineno}: expected 'key=value' or '[section]', got {line!r}")
        if not sections:
            raise ValueError(f"{source}:{lineno}: option {line!r} appears before any [section]")
        key, value = line.split("=", 1)
        key = "".join(key.split())
        value = "".join(value.split())
        if not key:
            raise ValueError(f"{source}:{lineno}: option without a name: {line!r}")
        sections[-1].options[key] = value
    if not sections:
        raise ValueError(f"{source}: no sections found (is this a Darknet .cfg file?)")
    if sections[0].name != "net":
        raise ValueError(f"{sections[0].where()}: the first section must be [net] or [network]")
    for s in sections[1:]:
        if s.name == "net":
            raise ValueError(f"{s.where()}: [net] may only appear once, as the first section")
    return sections


def read_cfg(path: str | Path) -> list[Section]:
    """Parse a cfg file; missing or unreadable files raise a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: cfg file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a text cfg file (cannot decode as UTF-8)") from None
    return parse_cfg(text, source=str(p))


def net_options(section: Section) -> dict:
    """The `[net]` options with Darknet's defaults (`parse_net_options`), typed."""
    s = section
    width = s.get_int("width", 0)
    height = s.get_int("height", 0)
    channels = s.get_int("channels", 0)
    if width <= 0 or height <= 0 or channels <= 0:
        # Darknet refuses such a net ("Must provide ... in cfg file"); defaults keep classifier cfgs usable
        width = width or 416
        height = height or 416
        channels = channels or 3
    out: dict[str, Any] = {
        "width": width,
        "height": height,
        "channels": channels,
        "batch": s.get_int("batch", 1),
        "subdivisions": s.get_int("subdivisions", 1),
        "learning_rate": s.get_float("learning_rate", 0.001),
        "momentum": s.get_float("momentum", 0.9),
        "decay": s.get_float("decay", 0.0001),
        "burn_in": s.get_int("burn_in", 0),
        "power": s.get_float("power", 4.0),
        "policy": s.get_str("policy", "constant"),
        "steps": s.get_ints("steps") or [],
        "scales": s.get_floats("scales") or [],
        "max_batches": s.get_int("max_batches", 0),
        "angle": s.get_float("angle", 0.0),
        "saturation": s.get_float("saturation", 1.0),
        "exposure": s.get_float("exposure", 1.0),
        "hue": s.get_float("hue", 0.0),
        "aspect": s.get_float("aspect", 1.0),
        "min_crop": s.get_int("min_crop", width),
        "max_crop": s.get_int("max_crop", width * 2),
    }
    if out["steps"] and out["scales"] and len(out["steps"]) != len(out["scales"]):
        raise ValueError(f"{s.where()}: steps has {len(out['steps'])} values but scales has {len(out['scales'])}")
    return out
