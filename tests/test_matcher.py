"""The target matcher on hand-made cases: which cell and anchor get each truth, last write wins (group by group
for a tree), the ignore IoU, and the chosen prediction of a classification-only image."""

from __future__ import annotations

import math

import torch

from yolo9000.detection.matcher import (
    ClassTables,
    Truths,
    best_anchor,
    best_truth_iou,
    choose_classification_box,
    classification_images,
    last_write_wins,
    match,
    matching_shapes,
    predicted_boxes,
    surviving_class_groups,
    truth_cells,
)

ANCHORS = torch.tensor([[1.0, 1.0], [3.0, 2.0]], dtype=torch.float64)  # grid units


def flat_tables(c: int) -> ClassTables:
    return ClassTables(torch.arange(c)[:, None], torch.arange(c)[None, :], torch.zeros(c, dtype=torch.long))


def toy_tree_tables() -> ClassTables:
    # 0 animal, 1 plant | 2 dog, 3 cat (animal) | 4 tree (plant) | 5 terrier, 6 poodle (dog)
    path = torch.tensor([[0, -1, -1], [1, -1, -1], [0, 2, -1], [0, 3, -1], [1, 4, -1], [0, 2, 5], [0, 2, 6]])
    members = torch.tensor([[0, 1], [2, 3], [4, -1], [5, 6]])
    group = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    return ClassTables(path, members, group)


def truths(boxes, nodes, is_cls=None, labels=None) -> Truths:
    boxes = torch.tensor(boxes, dtype=torch.float64)
    b, t = boxes.shape[:2]
    is_cls = torch.zeros(b, dtype=torch.bool) if is_cls is None else torch.tensor(is_cls)
    labels = torch.full((b,), -1) if labels is None else torch.tensor(labels)
    tvalid = (boxes[..., 2] > 0) & ~is_cls[:, None]
    return Truths(boxes, tvalid, torch.tensor(nodes), labels, is_cls, int(is_cls.sum()))


def zero_output(b: int, a: int, c: int, h: int, w: int):
    """Raw box entries, their activation and class logits of an all-zero head: every box is its anchor at the
    cell centre, objectness .5."""
    box = torch.zeros(b, a, 5, h * w, dtype=torch.float64)
    act = torch.cat([torch.sigmoid(box[:, :, 0:2]), box[:, :, 2:4], torch.sigmoid(box[:, :, 4:5])], dim=2)
    return box, act, torch.zeros(b, a, c, h * w, dtype=torch.float64)


def test_truth_cell_is_the_cell_holding_its_centre():
    boxes = torch.tensor([[[0.55, 0.3, 0.1, 0.1], [1.0, 1.0, 0.1, 0.1], [0.0, 0.99, 0.1, 0.1]]])
    gi, gj, gcell = truth_cells(boxes, h=4, w=5)
    assert gi.tolist() == [[2, 4, 0]]  # int(.55 * 5) = 2; x == 1.0 stays in the last column
    assert gj.tolist() == [[1, 3, 3]]
    assert gcell.tolist() == [[1 * 5 + 2, 3 * 5 + 4, 3 * 5 + 0]]


def test_best_anchor_by_shape_iou_first_on_ties():
    h, w = 4, 5
    shapes = matching_shapes(ANCHORS, None, None, h, w, bias_match=True)  # (.2, .25) and (.6, .5)
    boxes = torch.tensor([[[0.5, 0.5, 0.5, 0.4], [0.5, 0.5, 0.2, 0.25], [0.5, 0.5, 0.05, 0.05]]], dtype=torch.float64)
    # (.5, .4): IoU .25 with the small anchor, 2/3 with the large one
    assert best_anchor(boxes, shapes).tolist() == [[1, 0, 0]]
    tied = torch.tensor([[[0.5, 0.5, 0.3, 0.3]]], dtype=torch.float64)
    same = torch.tensor([[0.3, 0.3], [0.3, 0.3]], dtype=torch.float64)[None, None]
    assert best_anchor(tied, same).tolist() == [[0]]


def test_without_bias_match_the_predicted_sizes_at_the_cell_decide():
    h, w = 2, 2
    box, act, _ = zero_output(1, 2, 1, h, w)
    # (1.0, .9) truths: by anchor shape the large anchor (1.5, 1) wins (IoU .6 vs .28); at cell 3 the small
    # anchor now predicts exactly (1.0, .9) (exp(t) * .5), so without bias_match it wins there
    act[0, 0, 2, 3], act[0, 0, 3, 3] = math.log(2.0), math.log(1.8)
    pred = predicted_boxes(act, ANCHORS, h, w)
    boxes = torch.tensor([[[0.75, 0.75, 1.0, 0.9], [0.25, 0.25, 1.0, 0.9]]], dtype=torch.float64)
    _, _, gcell = truth_cells(boxes, h, w)
    assert gcell.tolist() == [[3, 0]]
    shapes = matching_shapes(ANCHORS, pred, gcell, h, w, bias_match=False)
    assert shapes.shape == (1, 2, 2, 2)
    assert best_anchor(boxes, shapes).tolist() == [[0, 1]]
    assert best_anchor(boxes, matching_shapes(ANCHORS, pred, gcell, h, w, bias_match=True)).tolist() == [[1, 1]]


def test_match_puts_each_truth_at_its_anchor_and_cell():
    h, w = 4, 5
    box, act, cls_raw = zero_output(2, 2, 3, h, w)
    tg = truths(
        [[[0.55, 0.3, 0.5, 0.4], [0.1, 0.9, 0.15, 0.2]], [[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]],
        [[2, 0], [0, 0]],
    )
    s = match(box, act, cls_raw, tg, flat_tables(3), ANCHORS, h=h, w=w)
    assert s.gcell[0].tolist() == [1 * 5 + 2, 3 * 5 + 0]
    assert s.best_n[0].tolist() == [1, 0]
    assert s.winner.tolist() == [[True, True], [False, False]]
    hw = h * w
    assert s.assigned[0].nonzero().flatten().tolist() == [0 * hw + 15, 1 * hw + 7]
    assert not s.assigned[1].any()  # an image without truths holds none
    assert s.n_cls == 0 and s.cls_img.numel() == 0 and not s.chosen_mask.any()


def test_later_truth_in_the_same_slot_wins():
    h, w = 2, 2
    box, act, cls_raw = zero_output(1, 2, 3, h, w)
    same_slot = [[0.3, 0.3, 0.2, 0.2], [0.6, 0.9, 0.9, 0.9], [0.35, 0.3, 0.25, 0.2]]  # 1st and 3rd: anchor 0, cell 0
    s = match(box, act, cls_raw, truths([same_slot], [[0, 1, 2]]), flat_tables(3), ANCHORS, h=h, w=w)
    assert s.best_n.tolist() == [[0, 1, 0]] and s.gcell.tolist() == [[0, 3, 0]]
    assert s.winner.tolist() == [[False, True, True]]
    assert s.assigned.sum().item() == 2
    # a flat softmax is one group: the later truth takes the class target too
    assert s.cls_w[..., 0].tolist() == [[False, True, True]]


def test_tree_class_targets_are_overwritten_group_by_group():
    slot = torch.tensor([[7, 7]])
    tvalid = torch.tensor([[True, True]])
    winner, same = last_write_wins(slot, tvalid)
    assert winner.tolist() == [[False, True]]
    # terrier (animal > dog > terrier) then cat (animal > cat) in one slot: the cat takes the groups it shares
    # with the terrier's path (roots, animal's children); the dog's children keep the terrier's target
    cls_w = surviving_class_groups(same, torch.tensor([[5, 3]]), tvalid, toy_tree_tables())
    assert cls_w.tolist() == [[[False, False, True], [True, True, False]]]


def test_a_later_invalid_truth_takes_nothing():
    winner, same = last_write_wins(torch.tensor([[4, 4, 4]]), torch.tensor([[True, True, False]]))
    assert winner.tolist() == [[False, True, False]]
    assert not same[0, :, 2].any()


def test_best_truth_iou_is_per_image():
    h, w = 2, 2
    _, act, _ = zero_output(2, 1, 1, h, w)
    anchors = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    pred = predicted_boxes(act, anchors, h, w)  # every box: one cell at its cell centre
    assert pred[0, 0, 1].tolist() == [0.75, 0.25, 0.5, 0.5]
    boxes = torch.tensor([[[0.75, 0.25, 0.5, 0.5]], [[0.75, 0.25, 0.5, 0.5]]], dtype=torch.float64)
    iou = best_truth_iou(pred, boxes, torch.tensor([[True], [False]]))
    assert iou[0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert iou[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # no real truth: nothing is ignored


def test_classification_image_goes_to_the_box_that_best_predicts_its_label():
    h, w, c = 1, 3, 2
    box, _, cls_raw = zero_output(3, 2, c, h, w)
    # image 1: location (anchor 0, cell 2) is the most confident object; (anchor 1, cell 1) best predicts label 1
    box[1, 0, 4, 2] = 3.0
    box[1, 1, 4, 1] = 1.0
    cls_raw[1, 1, 1, 1] = 4.0
    cls_img = classification_images(torch.tensor([False, True, False]), 1)
    assert cls_img.tolist() == [1]
    kw = dict(class_mode="softmax")
    label = torch.tensor([1])
    by_label = choose_classification_box(box, cls_raw, cls_img, label, flat_tables(c), cls_anchor="label", **kw)
    by_obj = choose_classification_box(box, cls_raw, cls_img, label, flat_tables(c), cls_anchor="objectness", **kw)
    assert by_label.tolist() == [1 * 3 + 1]
    assert by_obj.tolist() == [0 * 3 + 2]
    # the other label prefers the confident object, where P(label 0) is still .5
    other = choose_classification_box(
        box, cls_raw, cls_img, torch.tensor([0]), flat_tables(c), cls_anchor="label", **kw
    )
    assert other.tolist() == [2]


def test_classification_image_on_a_tree_uses_the_label_path():
    h, w = 1, 2
    box, act, cls_raw = zero_output(1, 1, 7, h, w)
    # cell 0: P(dog | animal) high but P(animal) low; cell 1: P(animal) high, dog and cat even
    cls_raw[0, 0, 1, 0] = 3.0  # plant at cell 0
    cls_raw[0, 0, 2, 0] = 3.0  # dog at cell 0
    cls_raw[0, 0, 0, 1] = 3.0  # animal at cell 1
    tg = truths([[[0.5, 0.5, 0.0, 0.0]]], [[0]], is_cls=[True], labels=[2])
    s = match(box, act, cls_raw, tg, toy_tree_tables(), torch.tensor([[1.0, 1.0]], dtype=torch.float64), h=h, w=w)
    assert s.n_cls == 1 and s.cls_img.tolist() == [0]
    assert s.chosen.tolist() == [1]  # P(dog) = .95 * .5 at cell 1 beats .05 * .95 at cell 0
    assert s.chosen_mask.tolist() == [[False, True]]
    assert not s.tvalid.any() and not s.assigned.any()
