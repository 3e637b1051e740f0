"""Tests of wordtree.softmax.TreeSoftmax against direct loop references on small random trees."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from wordtree.softmax import TreePrediction, TreeSoftmax
from wordtree.tree import WordTree


# ---- helpers ---------------------------------------------------------------------------------------------
def random_tree(n: int, seed: int, roots: int = 2, wide: int = 0) -> WordTree:
    """A random tree of n nodes in Darknet layout (from_edges), with several roots and one-child groups;
    `wide` > 0 hangs every node under one of the first `wide` nodes (large groups of varied sizes)."""
    rng = np.random.default_rng(seed)
    parent_of: dict[str, str | None] = {}
    for i in range(n):
        if i < roots:
            parent_of[f"n{i:08d}"] = None
        elif wide:
            parent_of[f"n{i:08d}"] = f"n{int(rng.integers(0, min(i, wide))):08d}"
        else:
            # bias toward recent nodes so the tree gets deep and has one-child groups
            lo = max(0, i - 4) if rng.random() < 0.5 else 0
            parent_of[f"n{i:08d}"] = f"n{int(rng.integers(lo, i)):08d}"
    return WordTree.from_edges(parent_of)


def chain_tree(parents: list[int]) -> WordTree:
    return WordTree([f"n{i:08d}" for i in range(len(parents))], parents, [f"node{i}" for i in range(len(parents))])


def ref_log_conditional(tree: WordTree, x: np.ndarray) -> np.ndarray:
    """Loop reference: log-softmax inside every group, one group at a time."""
    out = np.empty_like(x)
    for off, size in zip(tree.group_offset, tree.group_size):
        seg = x[..., off : off + size]
        m = seg.max(-1, keepdims=True)
        out[..., off : off + size] = seg - m - np.log(np.exp(seg - m).sum(-1, keepdims=True))
    return out


def ref_log_absolute(tree: WordTree, x: np.ndarray) -> np.ndarray:
    lc = ref_log_conditional(tree, x)
    la = lc.copy()
    for j in range(len(tree)):  # parents come first (Darknet's hierarchy_predictions, in logs)
        if tree.parent[j] >= 0:
            la[..., j] += la[..., tree.parent[j]]
    return la


def darknet_class_delta(tree: WordTree, probs_cond: np.ndarray, c: int) -> np.ndarray:
    """Darknet's tree class delta (`delta_region_class`): for the label and every ancestor, the group gets 0 - O,
    the node on the path gets 1 - O."""
    delta = np.zeros_like(probs_cond)
    while c >= 0:
        g = tree.group[c]
        off, size = tree.group_offset[g], tree.group_size[g]
        delta[off : off + size] = -probs_cond[off : off + size]
        delta[c] = 1 - probs_cond[c]
        c = tree.parent[c]
    return delta


def ref_predict_paper(tree: WordTree, cond: np.ndarray, thresh: float) -> tuple[int, float]:
    g, p, node = 0, 1.0, -1
    while True:
        off, size = tree.group_offset[g], tree.group_size[g]
        best = off + int(np.argmax(cond[off : off + size]))
        q = p * cond[best]
        if q > thresh or node < 0:
            if not q > thresh:  # best root below the threshold: Darknet returns it anyway
                return best, q
            node, p = best, q
            g = tree.child_group[best]
            if g < 0:
                return node, p
        else:
            return node, p


def ref_predict_darknet(tree: WordTree, cond: np.ndarray, thresh: float) -> int:
    """Literal transcription of Darknet's hierarchy_predictions + hierarchy_top_prediction (tree.c), float32."""
    x = cond.astype(np.float32).copy()
    for j in range(len(tree)):
        if tree.parent[j] >= 0:
            x[j] = np.float32(x[j] * x[tree.parent[j]])
    p, group = np.float32(1.0), 0
    while True:
        mx, max_i = np.float32(0.0), 0
        off, size = tree.group_offset[group], tree.group_size[group]
        for i in range(size):
            val = x[off + i]
            if val > mx:
                mx, max_i = val, off + i
        if np.float32(p * mx) > thresh:
            p = np.float32(p * mx)
            group = tree.child_group[max_i]
            if tree.child_group[max_i] < 0:
                return max_i
        elif group == 0:
            return max_i
        else:
            return int(tree.parent[tree.group_offset[group]])


@pytest.fixture(scope="module")
def trees() -> list[WordTree]:
    return [random_tree(n, seed) for n, seed in [(7, 0), (23, 1), (60, 2), (150, 3)]] + [random_tree(160, 4, wide=9)]


# ---- probabilities ------------------------------------------------------------------------------------------
def test_conditional_and_absolute_match_loop_reference(trees):
    torch.manual_seed(0)
    assert TreeSoftmax(trees[-1]).fast_pad.numel() > 0  # the padded size classes are exercised
    for tree in trees:
        ts = TreeSoftmax(tree)
        x = torch.randn(5, 3, len(tree), dtype=torch.float64) * 3
        lc = ts.log_conditional(x)
        la = ts.log_absolute(x)
        assert lc.shape == la.shape == x.shape
        np.testing.assert_allclose(lc.numpy(), ref_log_conditional(tree, x.numpy()), atol=1e-12)
        np.testing.assert_allclose(la.numpy(), ref_log_absolute(tree, x.numpy()), atol=1e-12)
        np.testing.assert_allclose(ts.darknet_probs(x).numpy(), lc.exp().numpy(), atol=1e-12)
        assert torch.equal(ts(x), lc)
        np.testing.assert_allclose(ts.probabilities(x).numpy(), la.exp().numpy(), atol=1e-12)
        np.testing.assert_allclose(ts.probabilities(x, absolute=False).numpy(), lc.exp().numpy(), atol=1e-12)


def test_probability_identities(trees):
    torch.manual_seed(1)
    for tree in trees:
        ts = TreeSoftmax(tree)
        x = torch.randn(8, len(tree)) * 4
        pc = ts.probabilities(x, absolute=False).double()
        pa = ts.probabilities(x).double()
        gsum = torch.zeros(8, tree.num_groups, dtype=torch.float64).index_add(1, ts.group, pc)
        torch.testing.assert_close(gsum, torch.ones_like(gsum), atol=1e-6, rtol=0)  # every group sums to 1
        kids = torch.zeros(8, len(tree), dtype=torch.float64)
        has = ts.parent >= 0
        kids.index_add_(1, ts.parent[has], pa[:, has])
        internal = ~ts.is_leaf
        torch.testing.assert_close(kids[:, internal], pa[:, internal], atol=1e-6, rtol=1e-5)  # children: parent
        if (tree.group_parent < 0).sum() == 1:  # one root group: leaves partition the mass
            torch.testing.assert_close(pa[:, ts.is_leaf].sum(1), torch.ones(8, dtype=torch.float64), atol=1e-5, rtol=0)


def test_one_node_tree_and_one_child_groups():
    one = TreeSoftmax(chain_tree([-1]))
    x = torch.tensor([[3.0], [-7.0]], requires_grad=True)
    assert torch.equal(one.log_conditional(x), torch.zeros(2, 1))
    assert torch.equal(one.log_absolute(x), torch.zeros(2, 1))
    loss = one.loss(x, torch.tensor([0, 0]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros(2, 1))
    p = one.predict(x.detach())
    assert p.node.tolist() == [0, 0] and p.prob.tolist() == [1.0, 1.0] and p.depth.tolist() == [0, 0]
    # a chain: every group has one member, so every node has probability 1
    chain = TreeSoftmax(chain_tree([-1, 0, 1, 2]))
    x = torch.randn(3, 4)
    torch.testing.assert_close(chain.probabilities(x), torch.ones(3, 4))
    p = chain.predict(x, 0.99)
    assert p.node.tolist() == [3, 3, 3] and p.depth.tolist() == [3, 3, 3]


# ---- log_prob and loss -------------------------------------------------------------------------------------
def test_log_prob_equals_absolute_gather(trees):
    torch.manual_seed(2)
    for tree in trees:
        ts = TreeSoftmax(tree)
        x = torch.randn(6, 4, len(tree), dtype=torch.float64) * 2
        nodes = torch.randint(0, len(tree), (6, 4))
        lp = ts.log_prob(x, nodes)
        ref = ref_log_absolute(tree, x.numpy())
        expect = np.take_along_axis(ref, nodes.numpy()[..., None], -1)[..., 0]
        np.testing.assert_allclose(lp.numpy(), expect, atol=1e-12)
        # one node broadcast over all rows (the classification-only argmax of the region loss)
        lp1 = ts.log_prob(x, 3)
        np.testing.assert_allclose(lp1.numpy(), ref[..., 3], atol=1e-12)


def test_loss_gradient_is_darknet_hierarchical_delta(trees):
    torch.manual_seed(3)
    for tree in trees:
        ts = TreeSoftmax(tree)
        x = (torch.randn(10, len(tree), dtype=torch.float64) * 2).requires_grad_()
        y = torch.randint(0, len(tree), (10,))
        y[0] = int(np.flatnonzero(~tree.is_leaf)[0])  # an internal label: nothing below it is pushed
        loss = ts.loss(x, y, reduction="sum")
        loss.backward()
        cond = ts.probabilities(x.detach(), absolute=False).numpy()
        for r in range(10):
            delta = darknet_class_delta(tree, cond[r], int(y[r]))
            np.testing.assert_allclose(-x.grad[r].numpy(), delta, atol=1e-12)
        below = [n for n in tree.subtree(int(y[0])) if n != int(y[0])]
        assert below and torch.all(x.grad[0, below] == 0)


def test_loss_reductions_ignore_and_weight():
    tree = random_tree(40, 7)
    ts = TreeSoftmax(tree)
    torch.manual_seed(4)
    x = torch.randn(3, 5, len(tree), dtype=torch.float64)
    y = torch.randint(0, len(tree), (3, 5))
    y[0, 1] = -100
    y[2, 4] = -100
    ref = -ts.log_prob(x, y.clamp(min=0))
    keep = y != -100
    none = ts.loss(x, y, reduction="none")
    assert none.shape == (3, 5)
    torch.testing.assert_close(none, torch.where(keep, ref, torch.zeros_like(ref)))
    torch.testing.assert_close(ts.loss(x, y, reduction="sum"), ref[keep].sum())
    torch.testing.assert_close(ts.loss(x, y), ref[keep].mean())
    w = torch.rand(len(tree), dtype=torch.float64) + 0.5
    wt = w[y.clamp(min=0)]
    torch.testing.assert_close(ts.loss(x, y, weight=w), (ref * wt)[keep].sum() / wt[keep].sum())
    torch.testing.assert_close(ts.loss(x, y, reduction="sum", weight=w), (ref * wt)[keep].sum())
    # another ignore index, and a batch where every row is ignored (no rows: like nll_loss, sum 0, mean NaN)
    y2 = torch.where(keep, y, torch.full_like(y, -1))
    torch.testing.assert_close(ts.loss(x, y2, ignore_index=-1), ref[keep].mean())
    allign = torch.full((3, 5), -100)
    assert ts.loss(x, allign, reduction="sum").item() == 0.0
    assert math.isnan(ts.loss(x, allign).item())


def test_gradcheck_float64():
    tree = random_tree(12, 5)
    ts = TreeSoftmax(tree)
    torch.manual_seed(5)
    x = torch.randn(3, len(tree), dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, len(tree), (3,))
    w = torch.rand(len(tree), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: ts.loss(z, y, weight=w), (x,))
    assert torch.autograd.gradcheck(lambda z: ts.log_prob(z, y), (x,))
    assert torch.autograd.gradcheck(ts.log_conditional, (x,))
    assert torch.autograd.gradcheck(ts.log_absolute, (x,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_stable(dtype):
    tree = random_tree(50, 9)
    ts = TreeSoftmax(tree)
    torch.manual_seed(6)
    x32 = torch.randn(4, len(tree)) * 30  # large logits: a naive fp16 exp would overflow
    x32[:, 0] = 200.0
    x = x32.to(dtype)
    y = torch.randint(0, len(tree), (4,))
    ref = TreeSoftmax(tree).log_prob(x.float(), y)
    lp = ts.log_prob(x, y)
    assert lp.dtype == torch.float32 and torch.isfinite(lp).all()
    torch.testing.assert_close(lp, ref)
    lc = ts.log_conditional(x)
    assert lc.dtype == dtype and torch.isfinite(lc).all()
    torch.testing.assert_close(lc.float(), ts.log_conditional(x.float()).to(dtype).float())
    xg = x.clone().requires_grad_()
    loss = ts.loss(xg, y)
    loss.backward()
    assert loss.dtype == torch.float32 and xg.grad.dtype == dtype and torch.isfinite(xg.grad).all()
    pred = ts.predict(x, 0.3)
    assert torch.equal(pred.node, ts.predict(x.float(), 0.3).node)


def test_nan_logits_propagate():
    tree = chain_tree([-1, -1, 0, 0, 1, 1, 2, 2])
    ts = TreeSoftmax(tree)
    x = torch.zeros(2, 8)
    x[0, 3] = float("nan")  # in group {2, 3} (children of node 0)
    lc = ts.log_conditional(x)
    assert torch.isnan(lc[0, [2, 3]]).all() and torch.isfinite(lc[0, [0, 1, 4, 5]]).all()
    assert torch.isfinite(lc[1]).all()
    la = ts.log_absolute(x)
    assert torch.isnan(la[0, [2, 3, 6, 7]]).all() and torch.isfinite(la[0, [0, 1, 4, 5]]).all()
    lp = ts.log_prob(x, torch.tensor([6, 6]))
    assert torch.isnan(lp[0]) and torch.isfinite(lp[1])
    assert torch.isfinite(ts.log_prob(x, torch.tensor([4, 4]))).all()  # not on the path: no effect
    assert torch.isnan(ts.loss(x, torch.tensor([2, 0])))
    x[0, 0] = 5.0  # make the walk go to node 0 and then meet the NaN group
    for mode in ("paper", "darknet"):
        p = ts.predict(x, 0.1, mode=mode)
        assert torch.isnan(p.prob[0]) and p.node[0].item() == 0
        assert torch.isfinite(p.prob[1])


# ---- predict ------------------------------------------------------------------------------------------------
def three_level() -> TreeSoftmax:
    # root group {0, 1}; children of 0: {2, 3}; children of 2: {4, 5}
    return TreeSoftmax(chain_tree([-1, -1, 0, 0, 2, 2]))


def logits_for(cond: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(cond, dtype=torch.float32))


def test_darknet_quirk_three_levels():
    ts = three_level()
    # conditional: root .9, child .8, grandchild .7 -> absolute .9, .72, .504 (the paper's walk reaches the
    # grandchild; Darknet's running product of absolute values stops at the child)
    x = logits_for([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    paper = ts.predict(x, 0.5)
    dk = ts.predict(x, 0.5, mode="darknet")
    assert isinstance(paper, TreePrediction)
    assert paper.node.item() == 4 and paper.depth.item() == 2
    assert paper.prob.item() == pytest.approx(0.504, abs=1e-6)
    assert dk.node.item() == 2 and dk.depth.item() == 1  # .9 * .72 * .504 = .327 < .5
    assert dk.prob.item() == pytest.approx(0.72, abs=1e-6)
    # a lower threshold lets Darknet reach the grandchild too
    assert ts.predict(x, 0.3, mode="darknet").node.item() == 4


def test_predict_thresholds_ties_and_root():
    ts = three_level()
    x = torch.stack(
        [
            logits_for([0.9, 0.1, 0.8, 0.2, 0.7, 0.3]),
            logits_for([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),  # ties: the first sibling wins at every level
            logits_for([0.3, 0.7, 0.5, 0.5, 0.5, 0.5]),  # best root is a leaf
        ]
    )
    assert ts.predict(x, 0.95).node.tolist() == [0, 0, 1]  # best root returned even below the threshold
    assert ts.predict(x, 0.6).node.tolist() == [2, 0, 1]
    assert ts.predict(x, 0.2).node.tolist() == [4, 2, 1]  # tie row: P(4) = .125 < .2
    assert ts.predict(x, 0.125).node.tolist() == [4, 2, 1]  # strict '>'
    assert ts.predict(x, 0.1).node.tolist() == [4, 4, 1]
    assert ts.predict(x, 0.0).node.tolist() == [4, 4, 1]
    p = ts.predict(x, 0.1)
    torch.testing.assert_close(p.prob, torch.tensor([0.504, 0.125, 0.7]))
    assert p.depth.tolist() == [2, 2, 0]
    assert ts.predict(x, 0.95, mode="darknet").node.tolist() == [0, 0, 1]
    # tie row: running product .5, then .5 * .25 = .125 > .1, then .125 * .125 < .1: stops at node 2
    assert ts.predict(x, 0.2, mode="darknet").node.tolist() == [4, 0, 1]
    assert ts.predict(x, 0.1, mode="darknet").node.tolist() == [4, 2, 1]
    # already-conditional probabilities as input give the same walk
    pc = ts.darknet_probs(x)
    for mode in ("paper", "darknet"):
        a, b = ts.predict(x, 0.2, mode=mode), ts.predict(pc, 0.2, mode=mode, probs=True)
        assert torch.equal(a.node, b.node)
        torch.testing.assert_close(a.prob, b.prob)


def test_predict_matches_loop_references_on_random_trees(trees):
    torch.manual_seed(7)
    for tree in trees:
        ts = TreeSoftmax(tree)
        x = torch.randn(2, 20, len(tree)) * 2.5
        cond = ts.probabilities(x, absolute=False).reshape(-1, len(tree)).double().numpy()
        la = ts.log_absolute(x).reshape(-1, len(tree))
        for thresh in (0.0, 0.05, 0.3, 0.6):
            paper = ts.predict(x, thresh)
            dk = ts.predict(x, thresh, mode="darknet")
            assert paper.node.shape == (2, 20)
            pn, pp, dn = paper.node.reshape(-1), paper.prob.reshape(-1), dk.node.reshape(-1)
            for r in range(cond.shape[0]):
                node, prob = ref_predict_paper(tree, cond[r], thresh)
                assert pn[r].item() == node
                assert pp[r].item() == pytest.approx(prob, rel=1e-5)
                assert dn[r].item() == ref_predict_darknet(tree, cond[r], thresh)
            torch.testing.assert_close(dk.prob.reshape(-1), la.gather(1, dn[:, None])[:, 0].exp())
            assert torch.equal(paper.depth.reshape(-1), ts.depth[pn])


def test_predict_reads_any_layout_without_a_copy(trees):
    """The walk reads strided inputs in place (the class entries of a region output): the same walk, bit for
    bit, as on a contiguous copy, in both modes, on logits and on probabilities; broadcast rows too."""
    torch.manual_seed(3)
    for tree in trees:
        ts, n = TreeSoftmax(tree), len(tree)
        region = torch.randn(2, 3, 5 + n, 4, 5) * 2.5  # (B, A, 5+C, H, W), as a region output
        strided = region[:, :, 5:].movedim(2, -1)  # (B, A, H, W, C), node axis strided
        assert strided.stride(-1) != 1
        probs = ts.darknet_probs(strided)  # kept in the input's memory order
        assert probs.stride(-1) != 1
        for thresh in (0.0, 0.3, 0.6):
            for mode in ("paper", "darknet"):
                for x, as_probs in ((strided, False), (probs, True)):
                    got = ts.predict(x, thresh, mode=mode, probs=as_probs)
                    want = ts.predict(x.contiguous(), thresh, mode=mode, probs=as_probs)
                    assert got.node.shape == (2, 3, 4, 5)
                    assert torch.equal(got.node, want.node) and torch.equal(got.prob, want.prob)
        row = torch.randn(n).expand(4, n)  # stride 0 over the rows
        assert torch.equal(ts.predict(row, 0.3).node, ts.predict(row.contiguous(), 0.3).node)


# ---- topk and inspect ------------------------------------------------------------------------------------
def test_topk(trees):
    tree = trees[4]
    ts = TreeSoftmax(tree)
    torch.manual_seed(8)
    x = torch.randn(3, 2, len(tree), dtype=torch.float64)
    pa = ts.probabilities(x)
    probs, nodes = ts.topk(x, 5)
    ref = pa.topk(5, -1)
    torch.testing.assert_close(probs, ref.values)
    assert torch.equal(nodes, ref.indices)
    probs, nodes = ts.topk(x, 4, leaves_only=True)
    assert ts.is_leaf[nodes].all()
    ref = pa.masked_fill(~ts.is_leaf, -1).topk(4, -1)
    torch.testing.assert_close(probs, ref.values)
    with pytest.raises(ValueError, match="k must lie"):
        ts.topk(x, 0)
    with pytest.raises(ValueError, match="k must lie"):
        ts.topk(x, int(ts.is_leaf.sum()) + 1, leaves_only=True)


def test_inspect_frame():
    ts = three_level()
    x = logits_for([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    df = ts.inspect(x)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["level", "group", "node", "wnid", "name", "on_path", "conditional", "absolute", "rank"]
    assert df["node"].tolist() == [0, 1, 2, 3, 4, 5]  # node 4 predicted: its path's groups (no children)
    assert df.loc[df.on_path, "node"].tolist() == [0, 2, 4]
    assert df["rank"].tolist() == [1, 2, 1, 2, 1, 2]
    np.testing.assert_allclose(df["absolute"], [0.9, 0.1, 0.72, 0.18, 0.504, 0.216], atol=1e-6)
    np.testing.assert_allclose(df["conditional"], [0.9, 0.1, 0.8, 0.2, 0.7, 0.3], atol=1e-6)
    df2 = ts.inspect(x, node="n00000000")  # by wnid: its siblings, then its children
    assert df2["node"].tolist() == [0, 1, 2, 3] and df2.loc[df2.on_path, "node"].tolist() == [0]
    with pytest.raises(ValueError, match="1-d"):
        ts.inspect(x[None])


# ---- bad input ---------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    ts = three_level()
    x = torch.zeros(2, 6)
    with pytest.raises(ValueError, match="last dimension must equal the tree's 6 nodes"):
        ts.log_conditional(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="last dimension"):
        ts.loss(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="floating point"):
        ts.log_absolute(torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"node indices in \[0, 6\).*got 6"):
        ts.loss(x, torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="got -1"):
        ts.loss(x, torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match="got -100"):
        ts.log_prob(x, torch.tensor([-100, 2]))
    with pytest.raises(ValueError, match="integer node indices"):
        ts.loss(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="do not match"):
        ts.loss(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        ts.loss(x, torch.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="weight must have shape"):
        ts.loss(x, torch.tensor([0, 1]), weight=torch.ones(5))
    with pytest.raises(ValueError, match="mode"):
        ts.predict(x, mode="greedy")
    with pytest.raises(ValueError, match="threshold"):
        ts.predict(x, 1.5)
    with pytest.raises(TypeError, match="WordTree"):
        TreeSoftmax([-1, 0])


def test_module_buffers_and_export():
    import wordtree

    assert wordtree.TreeSoftmax is TreeSoftmax
    ts = three_level()
    assert ts.state_dict() == {}  # derived from the tree (saved separately), so not in checkpoints
    names = dict(ts.named_buffers())
    assert {"parent", "group", "group_offset", "group_size", "ancestors"} <= set(names)
    moved = ts.to("cpu")
    assert moved.parent.device.type == "cpu"
    assert "nodes=6" in repr(ts)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    tree = random_tree(80, 11)
    ts = TreeSoftmax(tree)
    x = torch.randn(16, len(tree))
    y = torch.randint(0, len(tree), (16,))
    tc = TreeSoftmax(tree).cuda()
    torch.testing.assert_close(tc.log_absolute(x.cuda()).cpu(), ts.log_absolute(x))
    torch.testing.assert_close(tc.loss(x.cuda(), y.cuda()).cpu(), ts.loss(x, y))
    assert torch.equal(tc.predict(x.cuda(), 0.3).node.cpu(), ts.predict(x, 0.3).node)


# ---- the real 9k tree (reference data, skipped when absent) ---------------------------------------------------
def read_9k(reference_dir) -> WordTree:
    path = reference_dir / "darknet" / "9k.tree"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return WordTree([r[0] for r in rows], [int(r[1]) for r in rows])


def test_9k_tree_loss_and_predict(reference_dir):
    tree = read_9k(reference_dir)
    ts = TreeSoftmax(tree)
    assert (ts.num_nodes, ts.num_groups, ts.max_depth) == (9418, 1846, 16)
    torch.manual_seed(9)
    x = (torch.randn(6, len(tree), dtype=torch.float64) * 2).requires_grad_()
    y = torch.tensor([6912, 5177, 3802, 0, 5527, 9417])  # dog, person, car, a root, in the herb group, last
    ts.loss(x, y, reduction="sum").backward()
    cond = ts.probabilities(x.detach(), absolute=False).numpy()
    for r in range(len(y)):
        np.testing.assert_allclose(-x.grad[r].numpy(), darknet_class_delta(tree, cond[r], int(y[r])), atol=1e-12)
    assert (x.grad[0] != 0).sum().item() == sum(int(tree.group_size[tree.group[n]]) for n in tree.path(6912))
    la = ts.log_absolute(x.detach())
    torch.testing.assert_close(la.exp()[:, ts.is_leaf].sum(1), torch.ones(6, dtype=torch.float64))
    for r in range(len(y)):
        assert ts.predict(x[r].detach(), 0.4, mode="darknet").node.item() == ref_predict_darknet(tree, cond[r], 0.4)
        assert ts.predict(x[r].detach(), 0.4).node.item() == ref_predict_paper(tree, cond[r], 0.4)[0]


# ---- layouts and chunking of the all-node path -----------------------------------------------------------------
@pytest.mark.parametrize("chunk", [None, 200])
def test_all_node_layouts_and_chunks_agree(monkeypatch, chunk):
    import wordtree.softmax as sm

    if chunk is not None:
        monkeypatch.setattr(sm, "_CHUNK_ELEMENTS", chunk)  # several chunks, and a short last one
    tree = random_tree(30, 12)
    ts = TreeSoftmax(tree)
    n = len(tree)
    torch.manual_seed(10)
    base = torch.randn(3, 2, n, 3, 5, dtype=torch.float64)  # region-head memory: (B, A, C, H, W)
    x_nm = base.movedim(2, -1)  # classes last, node-major in memory
    x_rm = x_nm.contiguous()
    for x in (x_rm, x_nm, base[:, :, :, 1:, :].movedim(2, -1)):
        r = x.contiguous().numpy()
        lc, la, pc = ts.log_conditional(x), ts.log_absolute(x), ts.darknet_probs(x)
        np.testing.assert_allclose(lc.numpy(), ref_log_conditional(tree, r), atol=1e-12)
        np.testing.assert_allclose(la.numpy(), ref_log_absolute(tree, r), atol=1e-12)
        np.testing.assert_allclose(pc.numpy(), np.exp(ref_log_conditional(tree, r)), atol=1e-12)
        # the differentiable path (taken when the input requires grad) gives the same values
        xg = x.detach().clone().requires_grad_()
        np.testing.assert_allclose(ts.log_absolute(xg).detach().numpy(), la.numpy(), atol=1e-12)
    # node-major in, node-major out: the head can move the class axis back without a copy
    assert ts.darknet_probs(x_nm).movedim(-1, 2).is_contiguous()
    # fp16 input: values in fp16, computed in fp32
    h = x_rm.to(torch.float16)
    assert ts.log_absolute(h).dtype == torch.float16
    torch.testing.assert_close(ts.log_absolute(h).float(), ts.log_absolute(h.float()), atol=2e-2, rtol=2e-3)


def test_gradcheck_node_major_input():
    tree = random_tree(9, 13)
    ts = TreeSoftmax(tree)
    torch.manual_seed(11)
    base = torch.randn(1, 2, len(tree), 2, 2, dtype=torch.float64)
    xg = base.movedim(2, -1).detach().requires_grad_()
    assert xg.stride(-1) != 1
    assert torch.autograd.gradcheck(ts.log_absolute, (xg,))
    assert torch.autograd.gradcheck(ts.darknet_probs, (xg,))


def test_single_row_and_empty_batches():
    ts = three_level()
    x = logits_for([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    p = ts.predict(x, 0.5)
    assert p.node.shape == () and p.node.item() == 4
    assert ts.log_prob(x, 4).shape == ()
    assert ts.loss(x, torch.tensor(4)).item() == pytest.approx(-math.log(0.504), abs=1e-5)
    empty = torch.zeros(0, 6)
    assert ts.log_absolute(empty).shape == (0, 6)
    assert ts.predict(empty).node.shape == (0,)
    assert ts.loss(empty, torch.zeros(0, dtype=torch.long), reduction="sum").item() == 0.0


# ---- per-level conditionals along a path ----------------------------------------------------------------------
def test_path_log_conditional_levels_sum_to_log_prob():
    tree = random_tree(60, seed=3)
    ts = TreeSoftmax(tree)
    x = torch.randn(9, len(tree), dtype=torch.float64)
    nodes = torch.randint(0, len(tree), (9,))
    levels = ts.path_log_conditional(x, nodes)
    assert levels.shape == (9, tree.max_depth + 1) and levels.dtype == torch.float64
    torch.testing.assert_close(levels.sum(1), ts.log_prob(x, nodes))
    lc = ts.log_conditional(x)
    for r, n in enumerate(nodes.tolist()):
        path = tree.path(n)  # root first
        torch.testing.assert_close(levels[r, : len(path)], lc[r, path])
        assert torch.equal(levels[r, len(path) :], torch.zeros(tree.max_depth + 1 - len(path), dtype=torch.float64))


def test_path_log_conditional_reads_rows_and_shared_cells():
    """Images' class logits (B, N, anchors, cells): one node per chosen image, shared by its anchors and cells."""
    tree = random_tree(40, seed=4)
    ts = TreeSoftmax(tree)
    x = torch.randn(3, 2, len(tree), 5)  # (B, A, N, HW) as the region head lays them out
    rows, nodes = torch.tensor([2, 0]), torch.tensor([7, 31])
    got = ts.path_log_conditional(x.transpose(1, 2), nodes, rows=rows)  # (2, L, A, HW)
    assert got.shape == (2, tree.max_depth + 1, 2, 5)
    for k in range(2):
        rows_k = x[rows[k]].permute(0, 2, 1).reshape(-1, len(tree))  # (A * HW, N)
        want = ts.log_prob(rows_k, int(nodes[k])).view(2, 5)
        torch.testing.assert_close(got[k].sum(0), want)
    with pytest.raises(ValueError, match="node indices in"):
        ts.path_log_conditional(x.transpose(1, 2), torch.tensor([len(tree), 0]), rows=rows)
    with pytest.raises(ValueError, match="axis 1 must equal"):
        ts.path_log_conditional(x, nodes, rows=rows)
