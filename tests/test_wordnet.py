"""WordNet access: locating a copy, the assembled NLTK-shaped folder, the fast noun graph vs NLTK."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wordtree import wordnet as W

# a few real data.noun / index.noun lines (WordNet 3.0 format), enough for a parse
DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by  
  2 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  
00001740 03 n 01 entity 0 001 ~ 00001930 n 0000 | that which is perceived
00001930 03 n 01 physical_entity 0 002 @ 00001740 n 0000 ~ 00002684 n 0000 | an entity that has physical existence
00002684 03 n 02 object 0 physical_object 0 001 @ 00001930 n 0000 | a tangible and visible entity
00009999 06 n 02 Gizmo 0 widget 0 002 @ 00002684 n 0000 @i 00001930 n 0000 | made-up synset for tests
"""
INDEX_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by  
entity n 1 1 ~ 1 1 00001740  
gizmo n 1 1 @ 1 0 00009999  
object n 2 1 @ 2 1 00009998 00002684  
physical_entity n 1 1 @ 1 0 00001930  
physical_object n 1 1 @ 1 0 00002684  
widget n 1 1 @ 1 0 00009999  
"""


def _fake_wordnet(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in W.REQUIRED_FILES:
        (folder / f).write_text("")
    (folder / "data.noun").write_text(DATA_NOUN)
    (folder / "index.noun").write_text(INDEX_NOUN)
    (folder / "data.verb").write_text("00001740 29 v 01 breathe 0 000 | draw air\n")
    return folder


def test_lexnames_has_the_45_files_in_nltk_format():
    lines = W.lexnames_text().splitlines()
    assert len(lines) == 45
    for i, line in enumerate(lines):
        index, name, pos = line.split()  # what NLTK's reader unpacks
        assert int(index) == i
        assert int(pos) == {"adj": 3, "adv": 4, "noun": 1, "verb": 2}[name.split(".")[0]]
    assert lines[3].split()[1] == "noun.Tops" and lines[5].split()[1] == "noun.animal"
    assert lines[44].split()[1] == "adj.ppl"


def test_env_folder_is_assembled_and_parsed(tmp_path, monkeypatch):
    raw = _fake_wordnet(tmp_path / "raw")
    monkeypatch.setenv(W.ENV_WORDNET, str(raw))
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    src = W.find_wordnet()
    assert src.origin == "env"
    # a copy, not a link, with the lexnames file NLTK needs
    assert src.path == tmp_path / "cache" / "nltk_data" / "corpora" / "wordnet"
    assert (src.path / "lexnames").read_text() == W.lexnames_text()
    assert not (src.path / "data.noun").is_symlink()
    g = W._parse(src)
    assert g.version == "3.0"
    assert g.hypernyms["n00009999"] == ("n00002684", "n00001930")  # direct first, then instance
    assert g.names["n00009999"] == "gizmo.n.01"
    assert g.names["n00002684"] == "object.n.02"  # sense number from index.noun order
    assert g.display_name("n00009999") == "Gizmo"
    assert g.hypernym_paths("n00009999") == [
        ("n00001740", "n00001930", "n00002684", "n00009999"),
        ("n00001740", "n00001930", "n00009999"),
    ]
    assert g.resolve("widget") == ["n00009999"]
    assert g.problem("v00001740").startswith("v00001740: a verb synset, not a noun")
    assert "no noun synset" in g.problem("n00000001")
    assert "not a WordNet id" in g.problem("dog")


def test_missing_wordnet_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv(W.ENV_WORDNET, str(tmp_path / "nowhere"))
    with pytest.raises(W.WordNetNotFound) as err:
        W.find_wordnet()
    msg = str(err.value)
    assert "\n" not in msg
    assert W.ENV_WORDNET in msg and "wordnet-base" in msg and "nltk.download('wordnet')" in msg


def test_nltk_search_path_without_importing_nltk(monkeypatch, tmp_path):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    paths = W.nltk_data_paths()
    assert paths[0] == tmp_path
    assert Path.home() / "nltk_data" in paths


def test_graph_cache_is_reused(tmp_path, monkeypatch):
    raw = _fake_wordnet(tmp_path / "raw")
    monkeypatch.setenv(W.ENV_WORDNET, str(raw))
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    W.noun_graph.cache_clear()
    try:
        g1 = W.noun_graph()
        cached = list((tmp_path / "cache").glob("wordnet-nouns-*.pickle"))
        assert len(cached) == 1
        W.noun_graph.cache_clear()
        g2 = W.noun_graph()
        assert g2.hypernyms == g1.hypernyms and len(g2) == 4
    finally:
        W.noun_graph.cache_clear()


def test_real_graph_basics(graph):
    assert len(graph) == 82115  # WordNet 3.0 noun synsets
    assert graph.version == "3.0"
    dog = "n02084071"
    assert graph.name(dog) == "dog.n.01"
    paths = [[graph.name(w) for w in p] for p in graph.hypernym_paths(dog)]
    assert len(paths) == 2 and all(p[0] == "entity.n.01" and p[-1] == "dog.n.01" for p in paths)
    assert ["canine.n.02", "dog.n.01"] == paths[0][-2:] or ["canine.n.02", "dog.n.01"] == paths[1][-2:]
    assert graph.wnid_for_name("physical_entity.n.01") == "n00001930"
    assert graph.resolve("hot dog")[0] == "n07697537" or "n07697537" in graph.resolve("hot dog")
    # sun.n.01 reaches star.n.01 through an instance hypernym
    sun = graph.wnid_for_name("sun.n.01")
    assert [graph.name(h) for h in graph.hypernyms[sun]] == ["star.n.01"]


def test_graph_agrees_with_nltk(graph):
    wn = W.get_wordnet()
    dog = W.synset_from_wnid("n02084071")
    assert dog.name() == "dog.n.01" and dog.lexname() == "noun.animal"  # lexnames written correctly
    assert W.wnid_of(dog) == "n02084071"
    assert [s.name() for s in W.lookup("dog.n.01")] == ["dog.n.01"]
    assert W.lookup("dog")[0].name() == "dog.n.01"
    with pytest.raises(ValueError, match="n99999999"):
        W.synset_from_wnid("n99999999")
    rng = random.Random(0)
    for w in rng.sample(sorted(graph.hypernyms), 150):
        s = wn.synset_from_pos_and_offset("n", int(w[1:]))
        assert s.name() == graph.names[w]
        assert s.lexname() == graph.lexnames[w]
        nltk_hyps = {W.wnid_of(h) for h in s.hypernyms() + s.instance_hypernyms()}
        assert nltk_hyps == set(graph.hypernyms[w])
        assert len(s.hypernym_paths()) == len(graph.hypernym_paths(w))
