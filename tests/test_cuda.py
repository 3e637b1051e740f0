"""The model on a CUDA device (skipped without one): same outputs as on the CPU, fast paths, letterbox batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yolo9000.darknet import templates
from yolo9000.detection.letterbox import letterbox, letterbox_batch
from yolo9000.inference.optimize import optimize_for_inference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    m = templates.tiny_yolo(classes=3, size=128, width=0.5).eval()
    with torch.no_grad():
        for b in m.conv_blocks():
            if b.bn is not None:
                b.bn.running_var.uniform_(0.5, 1.5)
                b.bn.running_mean.normal_(0, 0.1)
    return m


def test_cuda_matches_cpu(small_model):
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        cpu = small_model.region_output(x)
        old = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False  # compare in true fp32
        try:
            gpu_model = small_model.to("cuda")
            gpu = gpu_model.region_output(x.cuda()).cpu()
        finally:
            torch.backends.cudnn.allow_tf32 = old
            small_model.to("cpu")
    assert torch.allclose(gpu, cpu, atol=1e-4)
    assert gpu_model.head.anchors.device.type == "cpu"  # moved back with the module


def test_cuda_fast_paths(small_model):
    x = torch.rand(4, 3, 128, 128)
    with torch.no_grad():
        ref = small_model.region_output(x)
        for dtype in (None, torch.bfloat16, torch.float16):
            fast = optimize_for_inference(small_model, dtype=dtype, channels_last=True).to("cuda")
            out = fast.region_output(x.cuda())
            assert out.dtype == torch.float32 and out.device.type == "cuda"
            assert torch.allclose(out.cpu(), ref, atol=1e-3 if dtype is None else 0.1)


def test_cuda_tree_head_and_training_step():
    from wordtree.tree import WordTree

    tree = WordTree(["a", "b", "c", "d", "e"], [-1, 0, 0, 1, 1])
    m = templates.tiny_yolo9000(tree, size=64, width=0.25).cuda().train()
    x = torch.rand(2, 3, 64, 64, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        raw = m(x)
    out = m.head.activate(raw)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 10, 2, 2)
    out[:, :, 5:].sum().backward()
    assert m.conv_blocks()[0].conv.weight.grad is not None


def test_letterbox_batch_on_cuda():
    rng = np.random.default_rng(0)
    imgs = [torch.from_numpy(rng.integers(0, 256, (3, 30, 50), dtype=np.uint8)).cuda() for _ in range(3)]
    out = letterbox_batch(imgs, 64, device="cuda")
    assert out.device.type == "cuda" and out.shape == (3, 3, 64, 64)
    exact = letterbox(imgs[0].cpu(), 64)
    assert torch.allclose(out[0].cpu()[:, 13:50], exact[:, 13:50], atol=1e-5)
