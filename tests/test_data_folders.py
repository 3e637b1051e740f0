"""Class folders named by wnid: mapping to tree nodes, and the unknown-wnid / empty-folder errors."""

from __future__ import annotations

import logging

import pytest
import tiny_data as td
import torch

from yolo9000.data import ClassFolders


@pytest.fixture()
def tree():
    return td.make_tree()


def test_folders_map_to_tree_nodes(tmp_path, tree):
    root = td.make_folders(tmp_path / "cls", per_class=2)
    ds = ClassFolders(root, tree)
    assert len(ds) == 6
    assert ds.classes == ["n90000004", "n90000005", "n90000006"]
    assert ds.class_nodes == [tree.index(w) for w in ds.classes]
    for i in range(len(ds)):
        s = ds.load(i)
        assert s.image.dtype == torch.uint8 and s.image.shape == (3, 64, 64)
        assert tree.ids[s.label] in s.path  # the image sits in its class's folder


def test_flat_folders_without_tree(tmp_path):
    root = td.make_folders(tmp_path / "cls", per_class=1)
    ds = ClassFolders(root)
    assert ds.names == ["n90000004", "n90000005", "n90000006"]
    assert sorted(set(ds.labels.tolist())) == [0, 1, 2]


def test_unknown_wnid_folder(tmp_path, tree):
    root = td.make_folders(tmp_path / "cls", per_class=1)
    (root / "n01234567").mkdir()
    (root / "n01234567" / "x.png").write_bytes((root / "n90000004" / "0.png").read_bytes())
    with pytest.raises(ValueError, match=r"n01234567: folder name 'n01234567' is not a node id of the tree"):
        ClassFolders(root, tree)


def test_empty_folder_is_an_error_or_a_logged_skip(tmp_path, tree, caplog):
    root = td.make_folders(tmp_path / "cls", per_class=1)
    (root / "n90000007").mkdir()
    (root / "n90000007" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="n90000007: class folder has no images"):
        ClassFolders(root, tree)
    with caplog.at_level(logging.WARNING):
        ds = ClassFolders(root, tree, skip_empty=True)
    assert "n90000007: no images, skipped" in caplog.text
    assert "n90000007" not in ds.classes


def test_root_errors(tmp_path, tree):
    with pytest.raises(FileNotFoundError, match="class folder root not found"):
        ClassFolders(tmp_path / "missing", tree)
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="no class folders inside"):
        ClassFolders(tmp_path / "flat", tree)
