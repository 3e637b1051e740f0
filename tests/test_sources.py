"""Label sources: shipped COCO/ImageNet lists checked against WordNet, class folders, ReleaseStatus.xml,
wnid files, free-text names, merging."""

from __future__ import annotations

import csv

import pytest

from wordtree import sources as S
from wordtree.builder import TargetError, data_dir

DOG, CAT, HUSKY, TABBY, PENGUIN = "n02084071", "n02121620", "n02110185", "n02123045", "n02055803"


@pytest.fixture(scope="module")
def verb(graph) -> str:
    return "v" + sorted(graph.other_offsets["v"])[100]


def _norm(s: str) -> str:
    return s.lower().replace("_", "").replace(" ", "").replace("-", "")


def test_coco_csv_matches_wordnet(graph):
    with open(data_dir() / "coco_wordnet.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 80 and [int(r["index"]) for r in rows] == list(range(80))
    assert len({r["wnid"] for r in rows}) == 80  # 80 distinct nodes
    for r in rows:
        w = r["wnid"]
        assert graph.problem(w) is None, r
        assert graph.name(w) == r["synset"], r
        lemmas = {_norm(x) for x in graph.lemmas[w]}
        name = _norm(r["name"])
        if r["match"] == "lemma":
            # the category is a lemma of the synset (up to spacing and a plural s)
            assert name in lemmas or name.rstrip("s") in lemmas or name + "s" in lemmas, r
        else:
            assert r["match"] == "related" and r["note"], r
            # no noun synset is named like the category, and the chosen one is related to its head word
            assert not graph.resolve(r["name"]) or r["name"] == "keyboard", r
            head = r["name"].split()[-1]
            related = {_norm(x) for a in graph.ancestors(w) for x in graph.lemmas[a]}
            assert _norm(head) in related, r
    m = S.coco(graph=graph).label_map
    assert m.labels[:3] == ("person", "bicycle", "car") and m.labels[-1] == "toothbrush"
    assert m.ids[16] == DOG


def test_imagenet1k_list(graph):
    r = S.imagenet1k(graph=graph)
    assert len(r) == 1000 and len(set(r.ids)) == 1000 and r.problems == []
    assert r.ids[0] == "n01440764" and r.ids[-1] == "n15075141"  # tench ... toilet tissue
    assert r.label_map.labels == r.ids


def _folders(root, counts: dict[str, int]):
    for name, n in counts.items():
        d = root / name
        d.mkdir(parents=True)
        for k in range(n):
            (d / f"img{k}.JPEG").write_bytes(b"")
        (d / "notes.txt").write_text("not an image")


def test_class_folders_top_k_and_min_images(tmp_path, graph):
    _folders(tmp_path, {DOG: 5, CAT: 3, HUSKY: 7, TABBY: 3, PENGUIN: 1})
    (tmp_path / "README").write_text("a stray file is ignored")
    every = S.class_folders(tmp_path, graph=graph)
    assert every.label_map.ids == tuple(sorted([DOG, CAT, HUSKY, TABBY, PENGUIN]))
    assert every.counts == {DOG: 5, CAT: 3, HUSKY: 7, TABBY: 3, PENGUIN: 1}
    top = S.class_folders(tmp_path, top_k=3, graph=graph)
    assert set(top.ids) == {HUSKY, DOG, CAT}  # tie at 3 images broken by wnid: n02121620 < n02123045
    assert list(top.ids) == sorted(top.ids)  # labels in ImageFolder order
    assert "top 3 by image count" in top.notes[0]
    assert set(S.class_folders(tmp_path, min_images=3, graph=graph).ids) == {HUSKY, DOG, CAT, TABBY}
    with pytest.raises(ValueError, match="top-k"):
        S.class_folders(tmp_path, top_k=0, graph=graph)


def test_class_folders_report_every_bad_name(tmp_path, graph, verb):
    _folders(tmp_path, {DOG: 2, "cats": 1, verb: 1, "n99999999": 1})
    with pytest.raises(TargetError) as err:
        S.class_folders(tmp_path, graph=graph)
    probs = err.value.problems
    assert len(probs) == 3
    text = "\n".join(probs)
    assert "'cats' is not named by a WordNet id" in text
    assert f"{verb}: a verb synset, not a noun" in text
    assert "n99999999: no noun synset" in text
    skipped = S.class_folders(tmp_path, graph=graph, on_invalid="skip")
    assert skipped.ids == (DOG,) and len(skipped.problems) == 3
    with pytest.raises(FileNotFoundError):
        S.class_folders(tmp_path / "absent", graph=graph)


def test_release_status_small_file(tmp_path, graph, verb):
    xml = tmp_path / "ReleaseStatus.xml"
    xml.write_text(
        "<ReleaseStatus><releaseData>fall2011</releaseData><images><synsetInfos>"
        f'<synset wnid="{DOG}" released="1" version="winter11" numImages="900" />'
        f'<synset wnid="{CAT}" released="1" version="winter11" numImages="777" />'
        f'<synset wnid="{HUSKY}" released="1" version="winter11" numImages="776" />'
        f'<synset wnid="{verb}" released="1" version="winter11" numImages="5000" />'
        "</synsetInfos></images><features><bow><synsetInfos>"
        f'<synset wnid="{PENGUIN}" numImages="9999" />'
        "</synsetInfos></bow></features></ReleaseStatus>"
    )
    r = S.release_status(xml, min_images=777, graph=graph, on_invalid="skip")
    assert r.ids == (DOG, CAT)  # >= 777 from the images section only, sorted by wnid
    assert len(r.problems) == 1 and verb in r.problems[0]
    assert S.release_status(xml, top_k=1, graph=graph, on_invalid="skip").ids == (DOG,)
    with pytest.raises(TargetError):
        S.release_status(xml, graph=graph)
    (tmp_path / "bad.xml").write_text("<ReleaseStatus><images>")
    with pytest.raises(ValueError, match="bad.xml: not valid XML"):
        S.read_release_status(tmp_path / "bad.xml")


def test_release_status_reference_777(reference_dir, graph):
    r = S.release_status(reference_dir / "imagenet" / "ReleaseStatus.xml", min_images=777, graph=graph)
    assert len(r) == 8982  # the paper's "top 9000" (see wordtree notes)


def test_wnid_file(tmp_path, graph, verb):
    f = tmp_path / "classes.txt"
    f.write_text(f"# my classes\n{DOG} doggo\n\ncat.n.01\n{HUSKY}  # a comment\n{verb}\nbanana.n.99\n{DOG}\n")
    with pytest.raises(TargetError) as err:
        S.wnid_file(f, graph=graph)
    probs = err.value.problems
    assert [p.split(": ")[1].split(":")[-1] for p in probs] == ["6", "7", "8"]  # file:line of each problem
    r = S.wnid_file(f, graph=graph, on_invalid="skip")
    assert r.label_map.labels == ("doggo", "cat.n.01", HUSKY)
    assert r.ids == (DOG, CAT, HUSKY)
    assert r.label_map.source == "classes"


def test_names_resolve_and_report_ambiguity(graph):
    r = S.names(["penguin", "dog", "cell phone", "taxi = n02930766", "Siberian husky"], graph=graph)
    assert r.ids[0] == PENGUIN and r.ids[1] == DOG and r.ids[4] == HUSKY
    assert graph.name(r.ids[2]) == "cellular_telephone.n.01"
    assert r.label_map.labels[3] == "taxi" and graph.name(r.ids[3]) == "cab.n.03"
    assert any("'dog' is ambiguous" in n and "frump.n.01" in n for n in r.notes)
    with pytest.raises(TargetError) as err:
        S.names(["dog", "bank", "xyzzyplugh"], graph=graph, ambiguous="error")
    assert len(err.value.problems) == 3
    assert "write 'dog = <synset>' to choose" in err.value.problems[0]
    assert "no noun synset" in err.value.problems[2]


def test_merge(graph):
    a = S.names(["dog", "cat"], graph=graph, source="a")
    b = S.names(["cat", "penguin"], graph=graph, source="b")
    targets, maps = S.merge([a, b])
    assert targets == [DOG, CAT, PENGUIN] and [m.source for m in maps] == ["a", "b"]
    with pytest.raises(ValueError, match="both named"):
        S.merge([a, a])
