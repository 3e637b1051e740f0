"""Drawing for the emoji world: glyph sprites, backgrounds, clutter, occluders and scene composition.

Noto Color Emoji is a CBDT bitmap font: FreeType loads it only at its strike size (109 px, bitmaps of about
136x128). Each glyph is therefore rendered once, cropped to its alpha box and kept as an RGBA sprite; every
instance is a resize/rotate/flip/colour-jitter of that sprite. All randomness comes from the numpy Generator
passed in, so one (seed, split, index) always gives the same picture.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_ENV = "YOLO9000_EMOJI_FONT"
_STRIKE_SIZES = (109, 136, 128, 96, 72)  # CBDT fonts load only at a strike size; scalable ones at any
_FONT_HINT = "install the Debian package fonts-noto-color-emoji or pass --font PATH"


def default_font_path() -> Path:
    """The emoji font to use: `$YOLO9000_EMOJI_FONT` if set, else Debian's Noto Color Emoji."""
    env = os.environ.get(FONT_ENV)
    return Path(env) if env else DEFAULT_FONT


def load_font(path: str | os.PathLike | None = None) -> ImageFont.FreeTypeFont:
    """Open a colour emoji font at a size it supports, with a one-line error when it is missing or unusable."""
    path = Path(path) if path is not None else default_font_path()
    if not path.is_file():
        raise FileNotFoundError(f"emoji font not found: {path} ({_FONT_HINT})")
    last: Exception | None = None
    for size in _STRIKE_SIZES:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as exc:  # "invalid pixel size" for bitmap fonts at a non-strike size
            last = exc
    raise ValueError(f"{path}: cannot load as an emoji font at sizes {_STRIKE_SIZES} ({last})")


def render_sprite(font: ImageFont.FreeTypeFont, emoji: str, *, source: str = "font") -> Image.Image:
    """Draw one glyph in colour and crop it to its visible pixels (RGBA)."""
    left, top, right, bottom = font.getbbox(emoji)  # whole pixels for a FreeType font (typed as float)
    canvas = Image.new("RGBA", (int(max(1, right)) + 4, int(max(1, bottom)) + 4), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), emoji, font=font, embedded_color=True)
    box = canvas.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box is None:
        raise ValueError(f"{source}: glyph {emoji!r} (U+{ord(emoji[0]):04X}) is blank in this font")
    sprite = canvas.crop(box)
    rgb = np.asarray(sprite.convert("RGB"), dtype=np.float32)
    if rgb.std() < 1.0:  # a monochrome fallback glyph drawn without colour
        raise ValueError(f"{source}: glyph {emoji!r} has no colour in this font (not a colour emoji font?)")
    return sprite


class SpriteBank:
    """Every glyph a world needs, rendered once (the font is opened once per process)."""

    def __init__(self, font_path: str | os.PathLike | None = None) -> None:
        self.font_path = Path(font_path) if font_path is not None else default_font_path()
        self._font: ImageFont.FreeTypeFont | None = None
        self._sprites: dict[str, Image.Image] = {}

    def __getitem__(self, emoji: str) -> Image.Image:
        sprite = self._sprites.get(emoji)
        if sprite is None:
            if self._font is None:
                self._font = load_font(self.font_path)
            sprite = render_sprite(self._font, emoji, source=str(self.font_path))
            self._sprites[emoji] = sprite
        return sprite

    def preload(self, emojis: Iterable[str]) -> None:
        """Render `emojis` now (fails early, before any file is written, on a glyph the font lacks)."""
        for e in emojis:
            self[e]


# ---- backgrounds ------------------------------------------------------------------------------------
def _colour(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    return rng.uniform(0, 255, size=(n, 3)).astype(np.float32)


def _coords(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Distance of each pixel along a random direction, in pixels (H, W) float32."""
    theta = rng.uniform(0, np.pi)
    xs = np.arange(w, dtype=np.float32)[None, :] * np.float32(np.cos(theta))
    ys = np.arange(h, dtype=np.float32)[:, None] * np.float32(np.sin(theta))
    return xs + ys


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    t = _coords(h, w, rng)
    t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    c0, c1 = _colour(rng, 2)
    return c0 + t[..., None] * (c1 - c0)


def _stripes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(6, 40)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * _coords(h, w, rng) / period)
    if rng.random() < 0.5:
        t = np.clip((t - 0.5) * 6 + 0.5, 0, 1)  # harder edges
    c0, c1 = _colour(rng, 2)
    return c0 + t[..., None] * (c1 - c0)


def _checker(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    tile = int(rng.integers(8, 40))
    t = ((np.arange(h)[:, None] // tile + np.arange(w)[None, :] // tile) % 2).astype(np.float32)
    c0, c1 = _colour(rng, 2)
    return c0 + t[..., None] * (c1 - c0)


def _smooth_noise(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    g = int(rng.integers(2, 9))
    small = Image.fromarray(rng.integers(0, 256, size=(g, g, 3), dtype=np.uint8), "RGB")
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def _flat_noise(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    sigma = np.float32(rng.uniform(8, 30))
    return _colour(rng)[0] + sigma * rng.standard_normal(size=(h, w, 3), dtype=np.float32)


_BACKGROUNDS = (_gradient, _stripes, _checker, _smooth_noise, _flat_noise)
_BACKGROUND_P = np.array([0.3, 0.2, 0.1, 0.3, 0.1])


def background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random (H, W, 3) float32 background in 0..255: gradient, stripes, checker or noise, maybe two mixed."""
    kind = rng.choice(len(_BACKGROUNDS), p=_BACKGROUND_P)
    img = _BACKGROUNDS[kind](h, w, rng)
    if rng.random() < 0.4:
        other = _BACKGROUNDS[rng.choice(len(_BACKGROUNDS), p=_BACKGROUND_P)](h, w, rng)
        a = rng.uniform(0.2, 0.6)
        img = (1 - a) * img + a * other
    return np.clip(img, 0, 255)


# ---- sprite instances ---------------------------------------------------------------------------------
@dataclass
class Placed:
    """A drawn sprite: its RGBA pixels (float32 0..1 alpha) and top-left corner (may lie outside the image)."""

    rgb: np.ndarray  # (h, w, 3) float32 0..255
    alpha: np.ndarray  # (h, w) float32 0..1
    x: int = 0
    y: int = 0


def jitter_colour(rgb: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Brightness, contrast and saturation jitter of an (h, w, 3) float array (keeps the hue: a lemon stays yellow)."""
    b = 1 + strength * rng.uniform(-0.25, 0.25)
    c = 1 + strength * rng.uniform(-0.25, 0.25)
    s = 1 + strength * rng.uniform(-0.35, 0.35)
    # saturation (mix with the grey level), contrast about 128 and brightness as one affine colour map
    m = (s * np.eye(3) + (1 - s) / 3 * np.ones((3, 3))) * (c * b)
    out = rgb @ m.astype(np.float32) + np.float32(128 * (1 - c) * b)
    np.minimum(out, 255, out=out)
    np.maximum(out, 0, out=out)
    return out


def make_instance(
    sprite: Image.Image,
    size: float,
    rng: np.random.Generator,
    *,
    max_rotation: float = 25.0,
    flip: bool = True,
    colour: float = 1.0,
) -> Placed:
    """Resize `sprite` so its longer side is `size` px, then flip, rotate and colour-jitter it."""
    scale = size / max(sprite.size)
    w = max(2, round(sprite.width * scale * rng.uniform(0.9, 1.1)))  # slight aspect change
    h = max(2, round(sprite.height * scale))
    img = sprite.resize((w, h), Image.Resampling.BILINEAR)
    if flip and rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if max_rotation > 0 and rng.random() < 0.7:
        angle = float(rng.uniform(-max_rotation, max_rotation))
        img = img.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
        box = img.getchannel("A").getbbox()
        if box is not None:
            img = img.crop(box)
    arr = np.asarray(img, dtype=np.float32)
    rgb = jitter_colour(arr[..., :3], rng, colour) if colour > 0 else arr[..., :3]
    return Placed(rgb, arr[..., 3] / 255.0)


def fragment(sprite: Image.Image, size: float, rng: np.random.Generator) -> Placed:
    """A random piece (40-100% per side) of a clutter sprite, scaled, rotated and semi-transparent."""
    w, h = sprite.size
    fw, fh = max(4, int(w * rng.uniform(0.4, 1.0))), max(4, int(h * rng.uniform(0.4, 1.0)))
    x0, y0 = int(rng.integers(0, w - fw + 1)), int(rng.integers(0, h - fh + 1))
    piece = sprite.crop((x0, y0, x0 + fw, y0 + fh))
    inst = make_instance(piece, size, rng, max_rotation=180.0, colour=1.5)
    inst.alpha = inst.alpha * rng.uniform(0.5, 1.0)
    return inst


def occluder(size: float, rng: np.random.Generator) -> Placed:
    """A solid or striped rectangle/ellipse (a plain distractor that hides part of an object)."""
    w = max(3, int(size * rng.uniform(0.4, 1.0)))
    h = max(3, int(size * rng.uniform(0.4, 1.0)))
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    if rng.random() < 0.5:
        draw.rectangle((0, 0, w - 1, h - 1), fill=255)
    else:
        draw.ellipse((0, 0, w - 1, h - 1), fill=255)
    fill = (_stripes if rng.random() < 0.3 else _gradient)(h, w, rng)
    return Placed(fill.astype(np.float32), np.asarray(mask, dtype=np.float32) / 255.0)


# ---- the scene ---------------------------------------------------------------------------------------
@dataclass
class Scene:
    """A canvas plus an owner map: which object (0..n-1) covers each pixel (-1 = background/clutter)."""

    image: np.ndarray  # (H, W, 3) float32
    owner: np.ndarray = field(init=False)  # (H, W) int16
    area: list[int] = field(default_factory=list)  # full visible area of each object when drawn

    def __post_init__(self) -> None:
        self.owner = np.full(self.image.shape[:2], -1, dtype=np.int16)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def _window(self, p: Placed) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """Slices of the canvas and of the sprite where they overlap (None when they do not)."""
        H, W = self.image.shape[:2]
        h, w = p.alpha.shape
        x0, y0 = max(p.x, 0), max(p.y, 0)
        x1, y1 = min(p.x + w, W), min(p.y + h, H)
        if x1 <= x0 or y1 <= y0:
            return None
        return (slice(y0, y1), slice(x0, x1)), (slice(y0 - p.y, y1 - p.y), slice(x0 - p.x, x1 - p.x))

    def coverage(self, p: Placed) -> np.ndarray:
        """Pixels of each existing object this sprite would hide (alpha > .5), as counts per object."""
        n = len(self.area)
        win = self._window(p)
        if win is None or n == 0:
            return np.zeros(n, dtype=np.int64)
        cs, ss = win
        hidden = self.owner[cs][p.alpha[ss] > 0.5]
        return np.bincount(hidden[hidden >= 0], minlength=n)[:n]

    def visible(self) -> np.ndarray:
        """Currently visible pixel count of every object."""
        return np.bincount(self.owner[self.owner >= 0].ravel(), minlength=len(self.area))[: len(self.area)]

    def draw(self, p: Placed, *, is_object: bool = False) -> int:
        """Alpha-composite `p`; objects claim their pixels in the owner map, others clear it. Returns pixels claimed."""
        win = self._window(p)
        claimed = 0
        if win is not None:
            cs, ss = win
            a = p.alpha[ss][..., None]
            self.image[cs] = a * p.rgb[ss] + (1 - a) * self.image[cs]
            solid = p.alpha[ss] > 0.5
            if is_object:
                self.owner[cs][solid] = len(self.area)
                claimed = int(solid.sum())
            else:
                self.owner[cs][solid] = -1
        if is_object:
            self.area.append(claimed)
        return claimed

    def boxes(self) -> np.ndarray:
        """Tight (n, 4) x0, y0, x1, y1 box (pixel edges) of each object's visible pixels; zeros when hidden."""
        n = len(self.area)
        out = np.zeros((n, 4), dtype=np.float64)
        rows = np.zeros((n, self.owner.shape[0]), dtype=bool)
        cols = np.zeros((n, self.owner.shape[1]), dtype=bool)
        ys, xs = np.nonzero(self.owner >= 0)
        ids = self.owner[ys, xs]
        rows[ids, ys] = True
        cols[ids, xs] = True
        for i in range(n):  # n <= a handful of objects per image
            r, c = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
            if len(r):
                out[i] = (c[0], r[0], c[-1] + 1, r[-1] + 1)
        return out

    def to_uint8(self, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
        img = self.image
        if noise > 0:
            img = img + np.float32(noise) * rng.standard_normal(size=img.shape, dtype=np.float32)
        img = img + np.float32(0.5)
        np.minimum(img, 255, out=img)
        np.maximum(img, 0, out=img)
        return img.astype(np.uint8)
