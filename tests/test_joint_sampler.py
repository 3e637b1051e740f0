"""The joint batch sampler: batch composition, repeat factors, multi-scale agreed by every rank, exact resume."""

from __future__ import annotations

from collections import Counter

import pytest
import tiny_data as td
import torch

from yolo9000.data import CLS, DET, AugmentConfig, ClassFolders, CocoDetection, JointBatchSampler, JointDataset, collate
from yolo9000.detection.targets import Targets


def _kinds(batch):
    return Counter(k.kind for k in batch)


def test_cls_fraction_fixes_the_composition_of_every_batch():
    s = JointBatchSampler(50, 200, 8, cls_fraction=0.25, length=30)
    for batch in s:
        assert _kinds(batch) == {DET: 6, CLS: 2}
    # default: the share of the (repeated) dataset sizes, like Darknet's single mixed list
    s = JointBatchSampler(100, 300, 8, length=1)
    assert _kinds(next(iter(s))) == {DET: 2, CLS: 6}
    s = JointBatchSampler(100, 300, 8, repeat_det=3.0, length=1)
    assert _kinds(next(iter(s))) == {DET: 4, CLS: 4}
    assert _kinds(next(iter(JointBatchSampler(10, 0, 4, cls_fraction=0.5, length=1)))) == {DET: 4}
    with pytest.raises(ValueError, match="cls-fraction must be within"):
        JointBatchSampler(10, 10, 4, cls_fraction=1.5)


def test_repeat_factor_covers_each_image_that_many_times_per_pass():
    s = JointBatchSampler(6, 0, 3, repeat_det=2.0, length=4)  # one pass = 12 draws = 4 batches
    counts = Counter(k.index for b in s for k in b)
    assert counts == {i: 2 for i in range(6)}
    s = JointBatchSampler(6, 0, 3, repeat_det=0.5, length=1)  # half the set per pass, no duplicates
    idx = [k.index for k in next(iter(s))]
    assert len(set(idx)) == 3


def test_multiscale_changes_every_10_steps_and_agrees_across_ranks():
    sizes = list(range(320, 609, 32))
    ranks = [
        JointBatchSampler(
            40, 40, 4, cls_fraction=0.5, sizes=sizes, every=10, accumulate=2, seed=3, rank=r, world_size=2, length=200
        )
        for r in range(2)
    ]
    batches = [list(s) for s in ranks]
    per_micro = [[b[0].size for b in rb] for rb in batches]
    assert per_micro[0] == per_micro[1]  # every rank draws the same size
    for m, size in enumerate(per_micro[0]):
        assert size in sizes
        assert all(k.size == size for k in batches[0][m])
        # constant within each block of 10 optimizer steps (20 micro-batches with accumulate=2)
        assert size == per_micro[0][(m // 20) * 20]
    assert len(set(per_micro[0])) > 3
    # the ranks get disjoint shares of each global batch
    for b0, b1 in zip(*batches):
        a = {(k.kind, k.index, k.seed) for k in b0}
        b = {(k.kind, k.index, k.seed) for k in b1}
        assert not a & b


def test_final_size_for_the_last_steps():
    s = JointBatchSampler(10, 0, 2, sizes=[320, 352], total_steps=50, final_size=608, final_steps=5, length=50)
    sizes = [b[0].size for b in s]
    assert sizes[45:] == [608] * 5 and 608 not in sizes[:45]


def test_resume_position_replays_the_same_stream():
    kw = dict(cls_fraction=0.5, sizes=[64, 96, 128], every=2, seed=11, length=40)
    full = list(JointBatchSampler(13, 7, 4, **kw))
    tail = list(JointBatchSampler(13, 7, 4, start=17, **kw))
    assert tail == full[17:]
    other_seed = list(JointBatchSampler(13, 7, 4, **{**kw, "seed": 12}))
    assert other_seed != full


def test_dataset_and_collate_produce_targets(tmp_path):
    tree = td.make_tree()
    det = CocoDetection(td.make_coco(tmp_path / "det", n_images=4), None, tree)
    cls = ClassFolders(td.make_folders(tmp_path / "cls", per_class=1), tree)
    ds = JointDataset(det, cls, AugmentConfig())
    sampler = JointBatchSampler(len(det), len(cls), 4, cls_fraction=0.5, sizes=[64, 96], every=1, length=3)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=0)
    for images, targets in loader:
        assert isinstance(targets, Targets)
        assert images.shape[0] == 4 and images.shape[-1] in (64, 96) and images.shape[-1] == images.shape[-2]
        assert targets.is_cls.tolist() == [False, False, True, True]
        assert set(targets.label[2:].tolist()) <= set(cls.class_nodes)
        assert (targets.label[:2] == -1).all()
        assert targets.valid[:2].any(dim=1).all() and not targets.valid[2:].any()
        assert set(targets.nodes[targets.valid].tolist()) <= set(det.cat_to_node.values())
        bx = targets.boxes[targets.valid]
        assert ((bx > 0) & (bx <= 1)).all()
