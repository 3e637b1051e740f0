"""WordNet 3.0 access: find a copy, hand out NLTK's reader, and a fast cached noun hypernym graph.

Where WordNet is looked for, in order:

1. ``$WORDTREE_WORDNET``: a folder holding WordNet's ``data.noun``/``index.noun``... (or a ``wordnet.zip``)
   -- an explicit choice by the user, so it wins over everything found automatically;
2. NLTK's normal data path (``$NLTK_DATA``, ``~/nltk_data``, ``<prefix>/nltk_data``, ``/usr/share/nltk_data``...),
   i.e. where ``nltk.download('wordnet')`` puts it;
3. the system WordNet 3.0 at ``/usr/share/wordnet`` (Debian's ``wordnet-base`` + ``wordnet-sense-index``), copied
   once into an NLTK-shaped folder in the user cache (``$YOLO9000_CACHE``, else ``$XDG_CACHE_HOME/yolo9000``,
   else ``~/.cache/yolo9000``), because NLTK refuses symlinks that leave its roots and needs a ``lexnames``
   file the Debian package lacks.

Importing NLTK alone takes over a second, so the builder never does: it reads the noun hypernym graph
straight from ``data.noun``/``index.noun`` and caches the parsed graph as a pickle keyed by the files' size
and mtime. ``get_wordnet()`` returns NLTK's reader for everything else (lemmas, glosses, relations).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # NLTK ships no types: these read as Any to mypy, as names to people
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

from wordtree.files import ENV_CACHE, atomic_open, cache_dir, writing  # noqa: F401  (ENV_CACHE: documented here)

log = logging.getLogger(__name__)

ENV_WORDNET = "WORDTREE_WORDNET"
SYSTEM_WORDNET_DIRS = (Path("/usr/share/wordnet"),)

#: files NLTK's reader opens; the first group is required, the rest are optional (lazy in NLTK)
REQUIRED_FILES = (
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
)
OPTIONAL_FILES = ("index.sense", "cntlist.rev", "cntlist")

#: WordNet's 45 lexicographer files (lexnames(5WN)); NLTK reads "index name pos" per line
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_LEX_POS = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}

INSTALL_HINT = (
    "install WordNet 3.0 with `apt-get install wordnet-base wordnet-sense-index` (Debian/Ubuntu) or "
    "`python -c \"import nltk; nltk.download('wordnet')\"`, or point $WORDTREE_WORDNET at a WordNet 3.0 folder"
)

WNID_RE = re.compile(r"^([nvasr])(\d{8})$")
SYNSET_NAME_RE = re.compile(r"^(.+)\.([nvasr])\.(\d{1,3})$")
_CACHE_VERSION = 3


class WordNetNotFound(FileNotFoundError):
    """No usable WordNet copy was found; the message says where we looked and how to install one."""


def lexnames_text() -> str:
    """Content of NLTK's ``lexnames`` file: ``NN<TAB>name<TAB>pos-number`` per lexicographer file."""
    return "".join(f"{i:02d}\t{n}\t{_LEX_POS[n.split('.')[0]]}\n" for i, n in enumerate(LEXNAMES))


def nltk_data_paths() -> list[Path]:
    """NLTK's default search path (as `nltk.data.path` builds it on this platform), without importing NLTK."""
    paths: list[str] = []
    if os.environ.get("NLTK_DATA"):
        paths.extend(p for p in os.environ["NLTK_DATA"].split(os.pathsep) if p)
    home = os.path.expanduser("~/")
    if home != "~/":
        paths.append(os.path.join(home, "nltk_data"))
    if sys.platform.startswith("win"):
        paths += [
            os.path.join(sys.prefix, "nltk_data"),
            os.path.join(sys.prefix, "share", "nltk_data"),
            os.path.join(sys.prefix, "lib", "nltk_data"),
            os.path.join(os.environ.get("APPDATA", "C:\\"), "nltk_data"),
            r"C:\nltk_data",
            r"D:\nltk_data",
            r"E:\nltk_data",
        ]
    else:
        paths += [
            os.path.join(sys.prefix, "nltk_data"),
            os.path.join(sys.prefix, "share", "nltk_data"),
            os.path.join(sys.prefix, "lib", "nltk_data"),
            "/usr/share/nltk_data",
            "/usr/local/share/nltk_data",
            "/usr/lib/nltk_data",
            "/usr/local/lib/nltk_data",
        ]
    return [Path(p) for p in paths]


@dataclass(frozen=True)
class WordNetSource:
    """A located WordNet copy: a folder of WordNet files, or a zip holding ``wordnet/`` (NLTK's download)."""

    path: Path  # the folder holding data.noun..., or the zip file
    origin: str  # "env", "nltk", "system" (assembled cache copy)
    member_prefix: str = ""  # inside a zip: "wordnet/"

    @property
    def is_zip(self) -> bool:
        return self.path.suffix == ".zip"

    def open(self, name: str) -> IO[str]:
        """Open one WordNet file for reading as text."""
        if self.is_zip:
            zf = zipfile.ZipFile(self.path)
            import io

            return io.TextIOWrapper(zf.open(self.member_prefix + name), encoding="utf-8", errors="replace")
        return open(self.path / name, encoding="utf-8", errors="replace")

    def fingerprint(self) -> tuple:
        """Size and mtime of the files the graph is parsed from (the cache key)."""
        files = [self.path] if self.is_zip else [self.path / "data.noun", self.path / "index.noun"]
        out: list[str | int] = [str(self.path)]
        for f in files:
            st = f.stat()
            out += [f.name, st.st_size, st.st_mtime_ns]
        return tuple(out)

    def __str__(self) -> str:
        return f"{self.path} ({self.origin})"


def _is_wordnet_dir(p: Path, need_lexnames: bool = True) -> bool:
    names = ("data.noun", "index.noun") + (("lexnames",) if need_lexnames else ())
    return p.is_dir() and all((p / n).is_file() for n in names)


def _zip_prefix(z: Path) -> str | None:
    try:
        with zipfile.ZipFile(z) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return None
    for prefix in ("wordnet/", ""):
        if prefix + "data.noun" in names and prefix + "lexnames" in names:
            return prefix
    return None


def _assemble_system_copy(src: Path) -> Path:
    """Copy the system WordNet into ``<cache>/nltk_data/corpora/wordnet`` once, adding ``lexnames``."""
    dest = cache_dir() / "nltk_data" / "corpora" / "wordnet"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable home: a private folder under the temp dir instead
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        dest = Path(tempfile.gettempdir()) / f"yolo9000-{uid}" / "nltk_data" / "corpora" / "wordnet"
    stamp = dest / ".source"
    want = f"{src.resolve()} {(src / 'data.noun').stat().st_size} {(src / 'data.noun').stat().st_mtime_ns}\n"
    if _is_wordnet_dir(dest) and stamp.is_file() and stamp.read_text() == want:
        return dest
    missing = [f for f in REQUIRED_FILES if not (src / f).is_file()]
    if missing:
        raise WordNetNotFound(f"{src}: incomplete WordNet copy (missing {', '.join(missing)}); {INSTALL_HINT}")
    with writing(dest):  # a full disk or read-only cache folder is one line naming it
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=dest.parent))
        try:
            for f in REQUIRED_FILES + OPTIONAL_FILES:
                if (src / f).is_file():
                    shutil.copyfile(src / f, tmp / f)  # a copy, not a link: NLTK rejects links leaving its root
            if (src / "lexnames").is_file():
                shutil.copyfile(src / "lexnames", tmp / "lexnames")
            else:
                (tmp / "lexnames").write_text(lexnames_text())
            (tmp / ".source").write_text(want)
            if dest.exists():
                shutil.rmtree(dest, ignore_errors=True)
            try:
                os.replace(tmp, dest)
            except OSError:
                if not _is_wordnet_dir(dest):  # else another process assembled it at the same moment
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    log.info("assembled an NLTK-shaped WordNet copy from %s in %s", src, dest)
    return dest


def find_wordnet() -> WordNetSource:
    """Locate WordNet (see the module docstring for the order); raise `WordNetNotFound` with a hint."""
    looked: list[str] = []
    env = os.environ.get(ENV_WORDNET)
    if env:
        p = Path(env).expanduser()
        if p.is_file() and p.suffix == ".zip" and _zip_prefix(p) is not None:
            return WordNetSource(p, "env", _zip_prefix(p) or "")
        if _is_wordnet_dir(p):
            return WordNetSource(p, "env")
        if _is_wordnet_dir(p / "corpora" / "wordnet"):
            return WordNetSource(p / "corpora" / "wordnet", "env")
        if _is_wordnet_dir(p, need_lexnames=False):
            # a raw WordNet folder (like Debian's): assemble a copy with lexnames
            return WordNetSource(_assemble_system_copy(p), "env")
        raise WordNetNotFound(f"${ENV_WORDNET}={env}: no WordNet files (data.noun, index.noun) there; {INSTALL_HINT}")
    for base in nltk_data_paths():
        d = base / "corpora" / "wordnet"
        if _is_wordnet_dir(d):
            return WordNetSource(d, "nltk")
        z = base / "corpora" / "wordnet.zip"
        if z.is_file():
            prefix = _zip_prefix(z)
            if prefix is not None:
                return WordNetSource(z, "nltk", prefix)
        looked.append(str(d))
    assembled = cache_dir() / "nltk_data" / "corpora" / "wordnet"
    for sysdir in SYSTEM_WORDNET_DIRS:
        if _is_wordnet_dir(sysdir, need_lexnames=False):
            return WordNetSource(_assemble_system_copy(sysdir), "system")
        looked.append(str(sysdir))
    if _is_wordnet_dir(assembled):  # an earlier copy whose source has gone away still works
        return WordNetSource(assembled, "system")
    raise WordNetNotFound(f"WordNet 3.0 not found (looked in {', '.join(looked[:3])}, ...); {INSTALL_HINT}")


# ---- NLTK access ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def get_wordnet() -> WordNetCorpusReader:
    """NLTK's `WordNetCorpusReader` over the located WordNet (slow the first time: NLTK import + index)."""
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    src = find_wordnet()
    # NLTK only opens files under its data path roots (nltk.pathsec); register the located copy's root,
    # which also lets `nltk.corpus.wordnet` find the assembled copy afterwards
    base = src.path.parent if src.is_zip else src.path
    root_dir = base.parent.parent if base.parent.name == "corpora" else base
    if str(root_dir) not in [str(p) for p in nltk.data.path]:
        nltk.data.path.append(str(root_dir))
    if src.is_zip:
        root = nltk.data.ZipFilePathPointer(str(src.path), src.member_prefix)
    else:
        root = nltk.data.FileSystemPathPointer(str(src.path))

    class _Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> object:  # NLTK: its version map, None for 3.0
            # NLTK maps "WordNet 3.0 -> loaded WordNet" for multilingual data by reading index.sense twice
            # (half of its start-up time); for WordNet 3.0 itself that map is the identity
            return None if self.get_version() == "3.0" else super().map_wn(version)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": we need none
        return _Reader(root, None)


def wnid_of(synset: Synset) -> str:
    """The WordNet id of an NLTK synset: pos letter + 8-digit offset (``n02084071``)."""
    pos = synset.pos()
    return f"{'a' if pos == 's' else pos}{synset.offset():08d}"


def synset_from_wnid(wnid: str) -> Synset:
    """NLTK synset for a wnid such as ``n02084071``; ValueError with the id if it is malformed or unknown."""
    m = WNID_RE.match(wnid.strip())
    if not m:
        raise ValueError(f"{wnid!r} is not a WordNet id (expected a pos letter and 8 digits, e.g. n02084071)")
    import warnings

    from nltk.corpus.reader.wordnet import WordNetError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NLTK warns and returns None for an unknown offset
            s = get_wordnet().synset_from_pos_and_offset(m.group(1), int(m.group(2)))
    except (WordNetError, ValueError, AttributeError):
        s = None
    if s is None:
        raise ValueError(f"{wnid}: no such synset in WordNet")
    return s


def lookup(query: str) -> list[Synset]:
    """NLTK synsets for a wnid (``n02084071``), a synset name (``dog.n.01``) or a lemma (``dog``, nouns)."""
    q = query.strip()
    if WNID_RE.match(q):
        return [synset_from_wnid(q)]
    wn = get_wordnet()
    if SYNSET_NAME_RE.match(q):
        from nltk.corpus.reader.wordnet import WordNetError

        try:
            return [wn.synset(q)]
        except (WordNetError, ValueError):
            return []
    return wn.synsets(q.replace(" ", "_"), pos="n")


# ---- the fast noun graph ---------------------------------------------------------------------------------
@dataclass
class NounGraph:
    """WordNet's noun synsets as plain dicts keyed by wnid, parsed once from ``data.noun``/``index.noun``.

    `hypernyms[w]` lists direct hypernyms then instance hypernyms, each sorted by synset name (the order
    NLTK <= 3.8 returned; newer NLTK returns them in set order, which varies between runs); `names[w]` is
    NLTK's synset name (``dog.n.01``); `lemmas[w]` the lemma names in file order (``_`` kept, case kept);
    `senses[lemma]` the noun wnids of a lower-cased lemma in sense order (from ``index.noun``).
    """

    hypernyms: dict[str, tuple[str, ...]]
    names: dict[str, str]
    lemmas: dict[str, tuple[str, ...]]
    glosses: dict[str, str]
    lexnames: dict[str, str]
    senses: dict[str, tuple[str, ...]]
    other_offsets: dict[str, frozenset] = field(default_factory=dict)  # pos letter -> offsets present
    version: str = ""
    source: str = ""
    _by_name: dict[str, str] | None = field(default=None, repr=False)
    _paths: dict[str, list[tuple[str, ...]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_hypernyms(
        cls, hypernyms: Mapping[str, Sequence[str]], names: Mapping[str, str] | None = None
    ) -> "NounGraph":
        """A small hand-made graph (tests, custom hierarchies): node -> its hypernyms; roots map to []."""
        hyp = {str(k): tuple(str(h) for h in v) for k, v in hypernyms.items()}
        missing = sorted({h for v in hyp.values() for h in v} - set(hyp))
        if missing:
            raise ValueError(f"hypernyms name unknown nodes: {', '.join(missing[:5])}")
        names = dict(names or {})
        nm = {w: names.get(w, w) for w in hyp}
        lem: dict[str, tuple[str, ...]] = {w: (nm[w].split(".")[0],) for w in hyp}
        return cls(hyp, nm, lem, {w: "" for w in hyp}, {w: "" for w in hyp}, {}, {}, "", "hand-made graph")

    def __contains__(self, wnid: object) -> bool:
        return wnid in self.hypernyms

    def __len__(self) -> int:
        return len(self.hypernyms)

    def name(self, wnid: str) -> str:
        """NLTK synset name, e.g. ``dog.n.01``."""
        return self.names[wnid]

    def display_name(self, wnid: str) -> str:
        """First lemma with ``_`` as spaces (Darknet's ``9k.names`` convention): ``"Frisbee"``, ``"dog"``."""
        return self.lemmas[wnid][0].replace("_", " ")

    def wnid_for_name(self, synset_name: str) -> str | None:
        """Wnid of an NLTK synset name (``dog.n.01``), or None."""
        if self._by_name is None:
            self._by_name = {v: k for k, v in self.names.items()}
        return self._by_name.get(synset_name.lower())

    def hypernym_paths(self, wnid: str) -> list[tuple[str, ...]]:
        """All hypernym paths root-first (``entity ... wnid``), enumerated as NLTK's `hypernym_paths`; memoised."""
        got = self._paths.get(wnid)
        if got is not None:
            return got
        out: list[tuple[str, ...]] = []
        hyps = self.hypernyms.get(wnid, ())
        if not hyps:
            out = [(wnid,)]
        for h in hyps:
            for p in self.hypernym_paths(h):  # recursion depth <= WordNet depth (~20)
                if wnid in p:
                    raise ValueError(f"hypernym cycle through {wnid} in {self.source}")
                out.append(p + (wnid,))
        self._paths[wnid] = out
        return out

    def ancestors(self, wnid: str) -> set[str]:
        """Every synset on any hypernym path of `wnid` (itself included)."""
        return {n for p in self.hypernym_paths(wnid) for n in p}

    def problem(self, wnid: str) -> str | None:
        """Why `wnid` cannot be a tree node (malformed, not a noun, unknown), or None if it is a noun synset."""
        if wnid in self.hypernyms:
            return None
        m = WNID_RE.match(wnid)
        if not m:
            return f"{wnid!r} is not a WordNet id (expected e.g. n02084071)"
        pos, off = m.group(1), m.group(2)
        if pos == "n":
            return None if wnid in self.hypernyms else f"{wnid}: no noun synset with offset {off} in WordNet 3.0"
        kind = {"v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}[pos]
        if off in self.other_offsets.get("a" if pos == "s" else pos, frozenset()):
            return f"{wnid}: a {kind} synset, not a noun (only noun synsets can be tree nodes)"
        return f"{wnid}: not a noun id (and no {kind} synset has offset {off} either)"

    def resolve(self, text: str) -> list[str]:
        """Noun wnids a free-text query may mean: a wnid, an NLTK synset name, or a lemma (most common first)."""
        q = text.strip()
        if WNID_RE.match(q):
            return [q] if q in self.hypernyms else []
        if SYNSET_NAME_RE.match(q):
            w = self.wnid_for_name(q)
            return [w] if w else []
        key = re.sub(r"[\s_]+", "_", q.lower())
        if key in self.senses:
            return list(self.senses[key])
        for cand in (
            key.replace("-", "_"),
            key.replace("_", ""),
            key[:-1] if key.endswith("s") else key,
            key[:-2] if key.endswith("es") else key,
        ):
            if cand in self.senses:
                return list(self.senses[cand])
        return []


def _parse(src: WordNetSource) -> NounGraph:
    senses: dict[str, tuple[str, ...]] = {}
    with src.open("index.noun") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            parts = line.split()
            # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
            cnt = int(parts[2])
            senses[parts[0]] = tuple("n" + o for o in parts[-cnt:])
    hyp: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # wnid -> (hypernyms, instance hypernyms)
    lemmas: dict[str, tuple[str, ...]] = {}
    glosses: dict[str, str] = {}
    lexnames: dict[str, str] = {}
    version = ""
    with src.open("data.noun") as fh:
        for line in fh:
            if line.startswith("  "):
                if not version and "WordNet" in line:
                    m = re.search(r"WordNet (\d+\.\d+)", line)
                    version = m.group(1) if m else ""
                continue
            body, _, gloss = line.partition(" | ")
            t = body.split()
            wnid = "n" + t[0]
            lexnames[wnid] = LEXNAMES[int(t[1])] if int(t[1]) < len(LEXNAMES) else t[1]
            nw = int(t[3], 16)
            lemmas[wnid] = tuple(t[4 + 2 * k] for k in range(nw))
            i = 4 + 2 * nw
            np_ = int(t[i])
            direct: list[str] = []
            inst: list[str] = []
            for k in range(np_):
                sym, off, pos = t[i + 1 + 4 * k], t[i + 2 + 4 * k], t[i + 3 + 4 * k]
                if pos != "n":
                    continue
                if sym == "@":
                    direct.append("n" + off)
                elif sym == "@i":
                    inst.append("n" + off)
            hyp[wnid] = (tuple(direct), tuple(inst))  # sorted by name below, as NLTK <= 3.8 returned them
            glosses[wnid] = gloss.strip()
    names: dict[str, str] = {}
    for wnid, lem in lemmas.items():
        first = lem[0].lower()
        offs = senses.get(first, ())
        try:
            k = offs.index(wnid) + 1
        except ValueError:
            k = 1
        names[wnid] = f"{first}.n.{k:02d}"
    hyp_sorted = {
        w: tuple(sorted(d, key=names.__getitem__)) + tuple(sorted(i, key=names.__getitem__))
        for w, (d, i) in hyp.items()
    }
    other: dict[str, frozenset] = {}
    for pos, fname in (("v", "data.verb"), ("a", "data.adj"), ("r", "data.adv")):
        try:
            with src.open(fname) as fh:
                other[pos] = frozenset(line[:8] for line in fh if not line.startswith("  "))
        except (OSError, KeyError):
            other[pos] = frozenset()
    return NounGraph(hyp_sorted, names, lemmas, glosses, lexnames, senses, other, version, str(src))


def _cache_file(src: WordNetSource) -> Path:
    import hashlib

    # one file per WordNet copy: a changed copy overwrites its stale cache instead of piling up new ones
    key = hashlib.sha1(str(src.path).encode()).hexdigest()[:16]
    return cache_dir() / f"wordnet-nouns-{key}.pickle"


@functools.lru_cache(maxsize=None)
def noun_graph() -> NounGraph:
    """The noun hypernym graph of the located WordNet, from the pickle cache when the files are unchanged."""
    import gc

    src = find_wordnet()
    cf = _cache_file(src)
    stamp = (_CACHE_VERSION,) + src.fingerprint()
    if cf.is_file():
        gc.disable()  # ~0.5M small objects: the collector would rescan them repeatedly while loading
        try:
            with open(cf, "rb") as fh:
                got_stamp, g = pickle.load(fh)
            if got_stamp == stamp and isinstance(g, NounGraph):
                return g
        except Exception as exc:  # a stale or truncated cache is rebuilt, never fatal
            log.warning("ignoring unreadable WordNet cache %s (%s)", cf, exc)
        finally:
            gc.enable()
    g = _parse(src)
    if g.version and g.version != "3.0":
        log.warning("%s is WordNet %s, not 3.0: ImageNet/Darknet wnids refer to WordNet 3.0 offsets", src, g.version)
    try:
        cf.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(cf, "wb") as fh:
            pickle.dump((stamp, g), fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        log.warning("could not write the WordNet cache %s (%s); parsing again next time", cf, exc)
    return g
