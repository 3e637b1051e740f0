"""Joint detection + classification data: one dataset, a batch sampler fixing each batch's composition and
input size, and the collate into (images, Targets).

The sampler is a pure function of (seed, micro-batch index, rank): every rank draws the same input size for a
step, each rank gets a disjoint share of the global batch, and resuming at a micro-batch index replays the
exact stream. Each sample carries its own augmentation seed, so augmentation does not depend on which worker
decodes it either.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from yolo9000.data.augment import AugmentConfig, augment, plan, render_batch
from yolo9000.data.coco import DetectionSample
from yolo9000.data.folders import ClassificationSample
from yolo9000.data.image_io import DecodeError, EncodedImage, decode_on_device
from yolo9000.data.labelled import LabelError
from yolo9000.detection.targets import Targets

log = logging.getLogger(__name__)

DET, CLS = 0, 1


class SampleSource(Protocol):
    """What the joint dataset reads: `CocoDetection`, `ClassFolders`, a `LabelledDataset` or several as one."""

    def __len__(self) -> int: ...

    def load(self, i: int, *, encoded: bool = False) -> DetectionSample | ClassificationSample: ...


@dataclass(frozen=True)
class SampleKey:
    """What the sampler asks the dataset for: (source kind, index within it, canvas size, augmentation seed)."""

    kind: int
    index: int
    size: int
    seed: int


class JointDataset(torch.utils.data.Dataset):
    """Detection and classification datasets behind one `__getitem__(SampleKey)`.

    Returns dicts with 'image' (3,S,S) float in [0,1] (uint8 with `dtype=torch.uint8`), 'boxes' (n,4)
    cx,cy,w,h in 0..1, 'nodes' (n,), 'is_cls', 'label' (and 'hsv' with `defer_hsv`). An image that fails to
    decode, or whose file is missing (files are checked here, not all at start), is logged, counted in `skipped`
    and replaced by another of the same kind (chosen from the sample's seed, so the replacement is
    reproducible); after `max_retries` failures in a row it raises.

    `decode="gpu"` (with `defer_hsv` and uint8): 'image' is the `EncodedImage` (a JPEG's bytes) and 'placement'
    its `Placement` row; boxes are placed from the header's size, and `collate_encoded` + `EncodedBatch.render`
    decode, resize and place the batch on the device.
    """

    def __init__(
        self,
        detection: SampleSource | None = None,
        classification: SampleSource | None = None,
        augment_cfg: AugmentConfig = AugmentConfig(),
        max_retries: int = 10,
        *,
        dtype: torch.dtype = torch.float32,
        defer_hsv: bool = False,
        cls_augment_cfg: AugmentConfig | None = None,
        decode: str = "cpu",
    ) -> None:
        if detection is None and classification is None:
            raise ValueError("joint dataset needs detection data, classification data, or both")
        if decode not in ("cpu", "gpu"):
            raise ValueError(f"decode must be 'cpu' or 'gpu', got {decode!r}")
        if decode == "gpu" and not (defer_hsv and dtype == torch.uint8):
            raise ValueError("decode='gpu' needs defer_hsv=True and dtype=torch.uint8 (the training loader's setting)")
        self.decode = decode
        self.skipped = 0  # pictures skipped (unreadable or missing) by this process
        self.sources: dict[int, SampleSource | None] = {DET: detection, CLS: classification}
        self.augment_cfg = augment_cfg
        self.cls_augment_cfg = augment_cfg if cls_augment_cfg is None else cls_augment_cfg
        self.max_retries = max_retries
        self.dtype, self.defer_hsv = dtype, defer_hsv

    def size_of(self, kind: int) -> int:
        """Number of images of one kind (0 when absent)."""
        ds = self.sources[kind]
        return 0 if ds is None else len(ds)

    def __len__(self) -> int:
        return self.size_of(DET) + self.size_of(CLS)

    def __getitems__(self, keys: Sequence[SampleKey]) -> list[dict]:
        """One batch (the DataLoader asks for its keys at once). On the uint8 CPU path every canvas is written
        into its slice of one channels-last batch tensor, which `collate` then takes as it is, without a copy."""
        if not (self.dtype == torch.uint8 and self.defer_hsv and self.decode == "cpu") or not keys:
            return [self[k] for k in keys]
        size = keys[0].size
        if any(k.size != size for k in keys):
            return [self[k] for k in keys]
        batch = torch.empty((len(keys), size, size, 3), dtype=torch.uint8)
        items = [self._item(k, canvas=batch[j].permute(2, 0, 1)) for j, k in enumerate(keys)]
        for item in items:
            item["batch"] = batch
        return items

    def __getitem__(self, key: SampleKey) -> dict:
        return self._item(key)

    def _item(self, key: SampleKey, canvas: torch.Tensor | None = None) -> dict:
        """The sample of `key`; `canvas` (3,S,S uint8): where its picture is placed."""
        ds = self.sources[key.kind]
        assert ds is not None, key  # the sampler draws only the kinds the dataset has
        rng = np.random.default_rng(key.seed)
        index = key.index
        encoded = self.decode == "gpu"
        for attempt in range(self.max_retries + 1):
            try:
                sample = ds.load(index, encoded=True) if encoded else ds.load(index)
                break
            except (DecodeError, OSError, LabelError) as exc:
                if attempt == self.max_retries:
                    raise RuntimeError(f"{self.max_retries + 1} images in a row failed to load; last: {exc}") from exc
                self.skipped += 1
                log.warning("skipping unreadable image (%s); using another (%d skipped so far)", exc, self.skipped)
                index = int(rng.integers(len(ds)))
        # a picture's own labels say its kind: a Darknet list mixes classification-only pictures into its one
        # stream, as Darknet's region layer finds them per picture
        det = sample if isinstance(sample, DetectionSample) else None
        aug = self.augment_cfg if det is not None else self.cls_augment_cfg
        boxes = det.boxes if det is not None else None
        if encoded:
            h, w = sample.image.shape[1:]
            placement, placed, kept, hsv = plan(h, w, boxes, key.size, rng, aug)
            out = (sample.image, placed, kept, hsv)  # augment's order, the picture still encoded
            item = {"image": sample.image, "placement": placement, "size": key.size, "boxes": placed}
            item["is_cls"] = det is None
        else:
            assert isinstance(sample.image, torch.Tensor)  # decoded: load(encoded=False)
            out = augment(
                sample.image, boxes, key.size, rng, aug, dtype=self.dtype, defer_hsv=self.defer_hsv, out=canvas
            )
            item = {"image": out[0], "boxes": out[1], "is_cls": det is None}
        if det is not None:
            item.update(nodes=det.nodes[out[2]], label=-1)
        else:
            assert isinstance(sample, ClassificationSample)
            item.update(nodes=torch.zeros(0, dtype=torch.long), label=int(sample.label))
        if self.defer_hsv:
            item["hsv"] = out[3]
        return item


def collate(samples: Sequence[dict]) -> tuple:
    """Stack one batch (all images share the batch's size) into (images (B,3,S,S), Targets), plus the
    (B,3) HSV parameters when the dataset defers HSV to the device (`distort_hsv_batch`). Channels-last canvases
    (`augment.place`) give a channels-last batch: a plain copy of each, not a transpose."""
    first = samples[0]["image"]
    batch = samples[0].get("batch")
    if batch is not None and len(batch) == len(samples) and all(s.get("batch") is batch for s in samples):
        images = batch.permute(0, 3, 1, 2)  # the canvases were written in place (`JointDataset.__getitems__`)
    elif first.shape[0] > 1 and first.stride(0) == 1:
        images = torch.stack([s["image"].permute(1, 2, 0) for s in samples]).permute(0, 3, 1, 2)
    else:
        images = torch.stack([s["image"] for s in samples])
    if "hsv" in samples[0]:
        return images, Targets.collate(list(samples)), torch.stack([s["hsv"] for s in samples])
    return images, Targets.collate(list(samples))


@dataclass
class EncodedBatch:
    """A `decode="gpu"` batch before decoding: the pictures (JPEG bytes, or decoded where the device cannot
    decode them), their placements (B,5) and the canvas size. `render` makes the (B,3,S,S) uint8 images."""

    pictures: list[EncodedImage]
    placements: torch.Tensor
    size: int

    def __len__(self) -> int:
        return len(self.pictures)

    def render(self, device: torch.device | str, targets: Targets | None = None) -> torch.Tensor:
        """Decode (nvjpeg on CUDA, one batched call), resize and place the batch on `device`. A picture that fails
        to decode stays grey and its boxes / class label are dropped from `targets` (logged by the decoder)."""
        decoded = decode_on_device(self.pictures, device)
        failed = [k for k, img in enumerate(decoded) if img is None]
        if failed and targets is not None:  # a grey canvas with no objects: nothing false is learnt from it
            targets.valid[failed] = False
            targets.is_cls[failed] = False
            targets.label[failed] = -1
        return render_batch(decoded, self.placements, self.size)


def collate_encoded(samples: Sequence[dict]) -> tuple:
    """The `decode="gpu"` collate: (EncodedBatch, Targets, hsv (B,3)); the pictures stay undecoded."""
    placements = torch.tensor([s["placement"].as_row() for s in samples], dtype=torch.long)
    batch = EncodedBatch([s["image"] for s in samples], placements, int(samples[0]["size"]))
    return batch, Targets.collate(list(samples)), torch.stack([s["hsv"] for s in samples])


def collate_for(decode: str) -> Callable[[Sequence[dict]], tuple]:
    """The DataLoader collate of a `JointDataset` with this `decode` mode."""
    return collate_encoded if decode == "gpu" else collate


def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class _Stream:
    """An endless stream of indices over `n` items repeated `repeat` times, reshuffled every pass."""

    def __init__(self, n: int, repeat: float, seed: int, tag: int) -> None:
        self.n, self.seed, self.tag = n, seed, tag
        self.length = max(1, int(round(n * repeat))) if n else 0
        self._epoch = -1
        self._perm = np.empty(0, dtype=np.int64)  # the order of pass `_epoch`, made on first use

    def take(self, start: int, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        for k in range(count):  # count is a per-batch share; epochs are regenerated lazily
            pos = start + k
            epoch, off = divmod(pos, self.length)
            if epoch != self._epoch:
                rng = np.random.default_rng(_seed_of(self.seed, self.tag, epoch))
                base = np.tile(np.arange(self.n), math.ceil(self.length / self.n))
                # fractional repeats: a random subset fills the last partial copy
                self._perm = (
                    rng.permutation(rng.permutation(base)[: self.length])
                    if len(base) > self.length
                    else rng.permutation(base)
                )
                self._epoch = epoch
            out[k] = self._perm[off]
        return out


class JointBatchSampler(torch.utils.data.Sampler):
    """Yields this rank's micro-batches as lists of `SampleKey`.

    batch_size:      images per micro-batch on this rank.
    cls_fraction:    share of classification images per batch; None takes the share of the (repeated) sizes,
                     like Darknet's one mixed list.
    repeat_det/cls:  how many times each dataset counts per pass (balancing sizes; fractional allowed).
    sizes:           canvas sizes to draw from; a new one every `every` optimizer steps (one step =
                     `accumulate` micro-batches), the same on every rank; `final_size` for the last
                     `final_steps` steps of `total_steps` (Darknet: 608 for the last 200 batches).
    start:           micro-batch index to start from (resume).
    """

    def __init__(
        self,
        n_det: int,
        n_cls: int,
        batch_size: int,
        *,
        cls_fraction: float | None = None,
        repeat_det: float = 1.0,
        repeat_cls: float = 1.0,
        sizes: Sequence[int] = (416,),
        every: int = 10,
        accumulate: int = 1,
        total_steps: int | None = None,
        final_size: int | None = None,
        final_steps: int = 200,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        length: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        if n_det + n_cls == 0:
            raise ValueError("no images to sample from")
        if cls_fraction is None:
            total = n_det * repeat_det + n_cls * repeat_cls
            cls_fraction = n_cls * repeat_cls / total
        if not 0.0 <= cls_fraction <= 1.0:
            raise ValueError(f"--cls-fraction must be within [0, 1], got {cls_fraction}")
        n_c = int(round(batch_size * cls_fraction))
        if n_cls == 0:
            n_c = 0
        if n_det == 0:
            n_c = batch_size
        if cls_fraction > 0 and n_c == 0 and n_cls > 0 and batch_size > 1:
            n_c = 1  # a small batch still sees classification images when asked to
        self.n_c, self.n_d = n_c, batch_size - n_c
        self.batch_size, self.sizes, self.every = batch_size, list(sizes), every
        self.accumulate, self.total_steps = accumulate, total_steps
        self.final_size, self.final_steps = final_size, final_steps
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.position, self.length = start, length
        self._det = _Stream(n_det, repeat_det, seed, DET)
        self._cls = _Stream(n_cls, repeat_cls, seed, CLS)

    @property
    def cls_per_batch(self) -> int:
        """Classification images in each micro-batch of this rank."""
        return self.n_c

    def size_at(self, micro: int) -> int:
        """Canvas size of micro-batch `micro` (a pure function of seed and step: identical on every rank)."""
        step = micro // self.accumulate
        if self.final_size and self.total_steps is not None and step + self.final_steps >= self.total_steps:
            return self.final_size
        if len(self.sizes) == 1:
            return self.sizes[0]
        rng = np.random.default_rng(_seed_of(self.seed, 7, step // self.every))
        return int(self.sizes[int(rng.integers(len(self.sizes)))])

    def batch_at(self, micro: int) -> list[SampleKey]:
        """This rank's keys for micro-batch `micro`."""
        size = self.size_at(micro)
        keys = []
        for kind, per, stream in ((DET, self.n_d, self._det), (CLS, self.n_c, self._cls)):
            if per == 0:
                continue
            start = (micro * self.world_size + self.rank) * per
            for j, idx in enumerate(stream.take(start, per)):
                keys.append(SampleKey(kind, int(idx), size, _seed_of(self.seed, kind, start + j)))
        return keys

    def state_dict(self) -> dict:
        """Position to resume from (the next micro-batch index) and the seed."""
        return {"position": self.position, "seed": self.seed}

    def __iter__(self) -> Iterator[list[SampleKey]]:
        while self.length is None or self.position < self.length:
            batch = self.batch_at(self.position)
            self.position += 1
            yield batch

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("endless sampler has no length")
        return max(0, self.length - self.position)
