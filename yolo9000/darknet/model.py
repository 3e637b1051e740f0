"""`DarknetModel`: a generic nn.Module built from a Darknet cfg; `load_darknet` (a cfg file or one of our template
names, + `.weights`). `DarknetModel` satisfies `yolo9000.detection.detection_model.DetectionModel`.

The exact `.weights` read/write lives in `yolo9000.darknet.weights`.

`model(x)` returns the raw output of the last computing layer, i.e. for a detector the conv feeding
`[region]`: (B, A*(5+C), H, W). `model.region_output(x)` applies Darknet's region activation.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from wordtree.formats import load_tree
from wordtree.tree import WordTree
from yolo9000.darknet.builders import BuildState, build_layer, candidate_paths, find_file
from yolo9000.darknet.cfg import Section, net_options, parse_cfg
from yolo9000.darknet.layers import ConvBlock, Route, Shortcut
from yolo9000.darknet.weights import load_weights
from yolo9000.detection.head import RegionConfig, RegionHead

if TYPE_CHECKING:
    from wordtree.softmax import TreeSoftmax

__all__ = ["DarknetModel", "load_darknet"]

log = logging.getLogger(__name__)


# Per-image activation size under which a CPU batch goes back to running batched (half a core's L2)
PER_IMAGE_BYTES = 1 << 20


class DarknetModel(nn.Module):
    """A network built from Darknet cfg sections; see `from_cfg_text` / `load_darknet`.

    Attributes: `layers` (one module per cfg section after [net], Darknet's layer numbering), `kinds`,
    `net` (typed [net] options), `region` (`RegionConfig` or None), `head` (`RegionHead` or None),
    `cfg_text`, `tree`, `seen` and `weights_version` (from the last loaded .weights header).
    """

    def __init__(
        self,
        sections: list[Section],
        tree: WordTree | str | Path | None = None,
        base_dir: str | Path | None = None,
        cfg_text: str | None = None,
    ) -> None:
        super().__init__()
        if not sections or sections[0].name != "net":
            raise ValueError("a Darknet cfg must start with [net]")
        self.cfg_text = cfg_text if cfg_text is not None else ""
        self.source: str = sections[0].source
        self.net: dict[str, Any] = net_options(sections[0])
        base = Path(base_dir) if base_dir is not None else None
        self.tree: WordTree | None = self._load_tree(sections, tree, base)
        self.region: RegionConfig | None = None
        self.head: RegionHead | None = None
        self.classifier_softmax: TreeSoftmax | None = None
        self.seen = 0
        self.weights_version = (0, 2, 0)
        self.names: list[str] | None = list(self.tree.names) if self.tree is not None else None

        state = BuildState(self.net, self.tree, base)
        layers: list[nn.Module] = []
        kinds: list[str] = []
        shape = (self.net["channels"], self.net["height"], self.net["width"])
        for idx, s in enumerate(sections[1:]):
            layer, shape = build_layer(s, idx, shape, state)
            layers.append(layer)
            kinds.append(s.name)
        self.region, self.classifier_softmax = state.region, state.classifier_softmax
        self.head = RegionHead(self.region) if self.region is not None else None
        if self.region is not None:
            after = [k for k in kinds[kinds.index("region") + 1 :] if k != "cost"]
            if after:
                raise ValueError(f"{self.source}: layers after [region] are not supported ({', '.join(after)})")
        self.layers = nn.ModuleList(layers)
        self.kinds = kinds
        self.shapes = state.shapes  # (c, h, w) per layer at the cfg's nominal size
        keep = set()
        for m in layers:
            if isinstance(m, Route):
                keep.update(m.sources)
            elif isinstance(m, Shortcut):
                keep.add(m.source)
        self._keep = keep
        self._dtype: torch.dtype | None = None
        self._channels_last = False
        # no-grad CPU batches run their first layers image by image until a map is this small (bytes); 0: off
        self.per_image_bytes = PER_IMAGE_BYTES

    # ---------------------------------------------------------------- construction
    @staticmethod
    def _load_tree(sections: list[Section], tree: WordTree | str | Path | None, base: Path | None) -> WordTree | None:
        tree_sections = [s for s in sections if s.name in ("region", "softmax") and s.get_str("tree")]
        if tree is not None:
            return load_tree(tree)
        if not tree_sections:
            return None
        s = tree_sections[0]
        opt = s.get_str("tree", "")  # set: tree_sections keeps only sections with a tree=
        found = find_file(opt, base)
        if found is None:
            tried = ", ".join(str(c) for c in candidate_paths(opt, base))
            raise FileNotFoundError(f"{s.where()}: tree file {opt!r} not found (tried {tried}); pass tree=")
        return load_tree(found)

    @classmethod
    def from_cfg_text(
        cls,
        text: str,
        tree: WordTree | str | Path | None = None,
        base_dir: str | Path | None = None,
        source: str = "<cfg>",
    ) -> DarknetModel:
        """Build from cfg text; `tree` (WordTree or .tree path) overrides the cfg's `tree=`; `base_dir` is
        where relative `tree=` / `map=` files are looked for."""
        return cls(parse_cfg(text, source=source), tree=tree, base_dir=base_dir, cfg_text=text)

    # ---------------------------------------------------------------- forward
    def _run(self, x: torch.Tensor, collect: bool = False) -> tuple[torch.Tensor, list]:
        outputs: list = [None] * len(self.layers)
        start = 0
        if (
            self.per_image_bytes
            and not collect
            and x.shape[0] > 1
            and x.device.type == "cpu"
            and not torch.is_grad_enabled()
        ):
            x, start = self._run_large_layers_per_image(x, outputs)
        x, _ = self._run_layers(x, outputs, start, len(self.layers), collect)
        return x, outputs

    def _run_layers(
        self, x: torch.Tensor, outputs: list, start: int, stop: int, collect: bool = False, until_bytes: int = 0
    ) -> tuple[torch.Tensor, int]:
        """Layers start..stop-1, or up to the first whose output is at most `until_bytes` (0: no limit);
        returns the output and the index of the next layer."""
        for i in range(start, stop):
            kind, layer = self.kinds[i], self.layers[i]
            if kind == "route":
                x = layer(outputs)
            elif kind == "shortcut":
                x = layer(x, outputs)
            else:
                x = layer(x)
            if collect or i in self._keep:
                outputs[i] = x
            if until_bytes and x.numel() * x.element_size() <= until_bytes:
                return x, i + 1
        return x, stop

    def _run_large_layers_per_image(self, x: torch.Tensor, outputs: list) -> tuple[torch.Tensor, int]:
        """Run the first layers one image at a time, until an image's activation map is at most
        `per_image_bytes`; returns the batched output and the index of the next layer.

        On CPU the full-resolution maps of a batch (177 MB for 8 images at 416) overflow the caches and the
        convolutions and pools wait on memory; one image's maps stay in cache. yolov2 at 416, batch 8, 2 cores:
        eager 4.45 -> 3.97 s; tiny-yolo at 160, batch 32: 424 -> 385 ms. Later layers run batched, where the
        larger GEMMs pay off."""
        n = len(self.layers)
        image_outputs: list[list] = [[None] * n for _ in range(x.shape[0])]
        first, stop = self._run_layers(x[:1], image_outputs[0], 0, n, until_bytes=self.per_image_bytes)
        ys = [first] + [self._run_layers(x[b : b + 1], image_outputs[b], 0, stop)[0] for b in range(1, x.shape[0])]
        for i in self._keep:
            if i < stop:  # routes from the batched layers into these
                outputs[i] = torch.cat([outs[i] for outs in image_outputs])
        return torch.cat(ys), stop

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.net["channels"]:
            raise ValueError(f"{self.source}: expected input (B, {self.net['channels']}, H, W), got {tuple(x.shape)}")
        if self._dtype is not None:
            x = x.to(self._dtype)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw output of the last computing layer; for a detector (B, A*(5+C), H, W)."""
        out, _ = self._run(self._prepare(x))
        if self._dtype is not None:
            out = out.float()
        return out.contiguous()

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output (Darknet numbering), for inspection and parity checks."""
        return self._run(self._prepare(x), collect=True)[1]

    def region_output(self, x: torch.Tensor) -> torch.Tensor:
        """Darknet's activated region output (B, A, 5+C, H, W)."""
        if self.head is None:
            raise ValueError(f"{self.source}: this network has no [region] layer")
        return self.head.activate(self(x))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, C) of a classifier cfg (avgpool + softmax, flat or tree)."""
        out = self(x).flatten(1)
        if self.classifier_softmax is not None:
            return self.classifier_softmax.darknet_probs(out)
        return torch.softmax(out, dim=1)

    # ---------------------------------------------------------------- modes
    def conv_blocks(self) -> list[ConvBlock]:
        """The conv layers in cfg order (the order of the .weights file)."""
        return [m for m in self.layers if isinstance(m, ConvBlock)]

    def set_bn_mode(self, mode: str) -> "DarknetModel":
        """ "gpu" (default, sqrt(var+1e-5)) or "cpu" (Darknet's CPU build, sqrt(var)+1e-6) inference batch norm."""
        if mode not in ("gpu", "cpu"):
            raise ValueError(f"bn_mode must be 'gpu' or 'cpu', got {mode!r}")
        for m in self.conv_blocks():
            m.bn_mode = mode
        return self

    @torch.no_grad()
    def fuse(self) -> "DarknetModel":
        """Fold every batch norm into its conv (inference only; uses the current bn_mode's formula)."""
        for m in self.conv_blocks():
            bn = m.bn
            if bn is None:
                continue
            mean, var = bn.running_mean, bn.running_var
            assert mean is not None and var is not None  # ConvBlock's BN always tracks running stats
            std = var.sqrt() + 1e-6 if m.bn_mode == "cpu" else (var + bn.eps).sqrt()
            scale = bn.weight / std
            conv = m.conv
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                # torch types _ConvNd's sizes as tuple[int, ...]; a Conv2d's are pairs
                cast(tuple[int, int], conv.kernel_size),
                cast(tuple[int, int], conv.stride),
                cast("str | tuple[int, int]", conv.padding),
                groups=conv.groups,
                bias=True,
            ).to(conv.weight.device, conv.weight.dtype)
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            assert fused.bias is not None  # made with bias=True
            fused.bias.copy_(bn.bias - mean * scale)
            m.conv = fused
            m.bn = None
        return self

    def set_inference_format(self, dtype: torch.dtype | None = None, channels_last: bool = False) -> "DarknetModel":
        """Run the body in `dtype` (e.g. torch.bfloat16) and/or channels_last; inputs/outputs stay float32."""
        if dtype is not None:
            self.to(dtype)
            if self.head is not None:
                self.head.float()
        self._dtype = dtype
        self._channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        return self


def check_cfg_tree(cfg: str | Path, tree: WordTree | None, tree_source: str | None = None) -> None:
    """A cfg written by `yolo9000 convert` names its tree in a `# tree_fingerprint=...` comment (Darknet skips
    comment lines): refuse a model read from it with another tree (its node numbers would mean other classes)."""
    p = Path(cfg)
    if tree is None or not p.is_file():
        return
    m = re.search(r"(?m)^[ \t]*#[ \t]*tree_fingerprint[ \t]*=[ \t]*([0-9a-fA-F]+)", p.read_text(errors="replace"))
    if m is None or m.group(1).lower() == tree.fingerprint:
        return
    raise ValueError(
        f"{p}: the cfg was exported with tree {m.group(1)} but the model is read with tree {tree.fingerprint} "
        f"({tree_source or 'the tree= file the cfg names'}); use the .tree written beside the cfg"
    )


def load_darknet(
    cfg_path: str | Path,
    weights_path: str | Path | None = None,
    tree: WordTree | str | Path | None = None,
    bn_mode: str = "gpu",
    tree_source: str | None = None,
) -> DarknetModel:
    """Build a model from a Darknet cfg file, or one of our templates by name, and optionally load its .weights
    (returned in eval mode).

    `cfg_path` that is no file may name a template of `yolo9000.darknet.templates` (`yolov2`, `yolo9000`,
    `tiny-yolo`, `tiny-yolo9000`, `darknet19`): rendered and sized for `tree` (a tree template needs one; a flat
    one without a tree keeps its default classes). `tree`: a WordTree or a Darknet `.tree` path for cfgs whose
    region uses one; relative `tree=`/`map=` entries of the cfg are also tried next to the cfg file.
    `bn_mode="cpu"` mimics Darknet's CPU build. A cfg written by `yolo9000 convert` or `yolo9000 cfg` names its
    tree's fingerprint; another tree is refused (`tree_source` names it).
    """
    p = Path(cfg_path)
    if p.is_file():
        text = p.read_text(encoding="utf-8", errors="replace")
        model = DarknetModel.from_cfg_text(text, tree=tree, base_dir=p.parent, source=str(p))
        check_cfg_tree(p, model.tree, str(tree) if isinstance(tree, (str, Path)) else tree_source)
    else:
        from yolo9000.darknet import templates  # templates build on this module

        if templates.template_key(str(cfg_path)) is None:
            raise FileNotFoundError(
                f"{p}: cfg file not found, and not a template name ({', '.join(templates.template_names())})"
            )
        model = templates.model_from_template(str(cfg_path), tree)
    if weights_path is not None:
        load_weights(model, weights_path)
    model.set_bn_mode(bn_mode)
    return model.eval()


if TYPE_CHECKING:
    from yolo9000.detection.detection_model import DetectionModel

    def _is_a_detection_model(model: DarknetModel) -> DetectionModel:
        return model  # mypy checks here that DarknetModel satisfies the DetectionModel protocol
