"""Chinese text for the catalog search index (SQLite FTS5 and PostgreSQL tsvector).

Neither database segments Chinese, so the DB layer stores text already segmented: the terms
of :func:`index_terms`, joined by spaces, and matches them with the terms of
:func:`query_terms` (all of them: AND). Both sides must agree on what a term is, so both go
through the same steps here:

1. NFKC normalisation (full-width letters, digits and punctuation become half-width) and
   lower case;
2. runs of Han characters are segmented by jieba in precise mode without the HMM (new-word
   guessing would make a query and a document disagree on unknown words), with a domain
   dictionary (``data/search_dict.txt``) so terms like 统一社会信用代码 stay whole;
3. codes and identifiers stay whole: ``112461465423/798456`` or ``db14/t`` become one term
   with their separators removed (FTS5 and tsvector would split at the slash), plus their
   parts in the index, so a search for either finds them;
4. punctuation and stop words (``data/search_stopwords.txt``) are dropped.

The index side also adds (a) every dictionary word that occurs in the text (jieba's full
mode), so 不动产 finds 不动产登记 and 不动产登记 finds 不动产登记簿 however the precise
segmentation drew its boundaries (jieba's search mode only adds 2- and 3-character words), and
(b) the synonyms of each term (``data/search_synonyms.yaml``) and the abbreviations of each full
form (``data/search_abbreviations.yaml``), so 社会保险 finds an entry that says 社保.
A query term is expanded too (:func:`expansions`: an OR of the term and its synonyms and full
forms), so an index built before a word list changed still answers; the fillers of a question
(怎么查, 如何) are left out of the query.

jieba builds a 350,000-word prefix dictionary at start (about a second). We cache it, with the
domain words added, in a small binary file (no pickle or marshal: nothing in it can run) under
``$GONGSHU_CACHE_DIR/jieba``, else ``$XDG_CACHE_HOME/gongshu/jieba`` (``~/.cache``), else a
per-user temporary directory. The file is written to a temporary name and renamed, so
processes starting together each read a whole file or build their own; nothing touches the
network. The tokenizer is our own ``jieba.Tokenizer``, so the words added here do not change
segmentation elsewhere in the process.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import logging
import os
import re
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

_CACHE_MAGIC = b"GSJIEBA1"
_CACHE_FORMAT = 1
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(
    rf"(?P<code>[0-9a-z]+(?:[-_./:@#][0-9a-z]+)*)"
    rf"|(?P<han>[{_HAN}]+)"
    rf"|(?P<word>(?:(?![{_HAN}])[^\W_])+)"
)
_SEPARATORS = re.compile(r"[-_./:@#]")


def normalize(text: str) -> str:
    """NFKC and lower case: ＳＨＡＮＸＩ１２３ and shanxi123 are one term."""
    return unicodedata.normalize("NFKC", text).lower()


def _data(name: str) -> bytes:
    return resources.files("gongshu.catalog").joinpath("data", name).read_bytes()


def _lines(name: str) -> list[str]:
    out = []
    for line in _data(name).decode("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


@cache
def stopwords() -> frozenset[str]:
    return frozenset(normalize(w) for w in _lines("search_stopwords.txt"))


@cache
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    raw = yaml.safe_load(_data("search_synonyms.yaml").decode("utf-8"))
    return tuple(tuple(normalize(str(t)) for t in group) for group in raw["groups"])


@cache
def _abbreviation_data() -> dict[str, Any]:
    raw = yaml.safe_load(_data("search_abbreviations.yaml").decode("utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("abbreviations"), dict):
        raise ValueError("catalog/data/search_abbreviations.yaml must map abbreviations")
    return raw


@cache
def abbreviations() -> Mapping[str, tuple[str, ...]]:
    """Abbreviation → its full forms (``data/search_abbreviations.yaml``): 人社 →
    人力资源和社会保障, 医保 → 医疗保险 …"""
    return {normalize(str(short)): tuple(normalize(str(f)) for f in full)
            for short, full in _abbreviation_data()["abbreviations"].items()}


@cache
def query_fillers() -> frozenset[str]:
    """Words of a question that say nothing about the data (怎么查, 如何, 我的 …)."""
    return frozenset(normalize(str(w)) for w in _abbreviation_data().get("query_fillers", ()))


@cache
def question_words() -> frozenset[str]:
    """Words of a question about a service (申请条件, 流程 …): an unknown one does not count
    against the rest of the question."""
    return frozenset(normalize(str(w)) for w in _abbreviation_data().get("question_words", ()))


@cache
def _synonym_groups_map() -> Mapping[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for group in synonym_groups():
        for term in group:
            out.setdefault(term, set()).update(t for t in group if t != term)
    return {term: frozenset(others) for term, others in out.items()}


@cache
def _synonym_map() -> Mapping[str, frozenset[str]]:
    """Term → the terms the index stores beside it: its synonym groups, and an abbreviation
    beside each of its full forms (and the other way round)."""
    out: dict[str, set[str]] = {}
    for group in synonym_groups():
        for term in group:
            out.setdefault(term, set()).update(t for t in group if t != term)
    for short, full in abbreviations().items():
        out.setdefault(short, set()).update(full)
        for form in full:
            out.setdefault(form, set()).add(short)
    return {term: frozenset(others) for term, others in out.items()}


def synonyms(term: str) -> frozenset[str]:
    """The other terms of ``term`` 's synonym groups (empty when it has none)."""
    return _synonym_map().get(normalize(term), frozenset())


def _domain_words() -> list[tuple[str, int | None]]:
    """Words to add to jieba: the domain dictionary, then every synonym."""
    words: list[tuple[str, int | None]] = []
    for line in _lines("search_dict.txt"):
        parts = line.split()
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        words.append((normalize(parts[0]), freq))
    words += [(term, None) for group in synonym_groups() for term in group]
    for short, full in abbreviations().items():
        words += [(short, None), *[(form, None) for form in full]]
    words += [(w, None) for w in query_fillers() | question_words() if len(w) > 1]
    return words


# -- the tokenizer and its cache --------------------------------------------------------------


_default_cache_dir: Path | None = None


def set_default_cache_dir(path: Path) -> None:
    """Where to cache when ``GONGSHU_CACHE_DIR`` is not set: the platform passes its data
    directory, so the cache lives with the data it serves (only before the first use counts)."""
    global _default_cache_dir
    _default_cache_dir = path


def _cache_dirs() -> Iterator[Path]:
    if os.environ.get("GONGSHU_CACHE_DIR"):
        yield Path(os.environ["GONGSHU_CACHE_DIR"]) / "jieba"
    if _default_cache_dir is not None:
        yield _default_cache_dir / "jieba"
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        yield base / "gongshu" / "jieba"
    except RuntimeError:  # no home directory
        pass
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    yield Path(tempfile.gettempdir()) / f"gongshu-{user}" / "jieba"


def _cache_dir() -> Path | None:
    """The first cache directory we can write to, created private; None if there is none."""
    for candidate in _cache_dirs():
        try:
            candidate.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            continue
        if os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _cache_key(jieba: Any) -> str:
    """Changes whenever what the cache holds would: jieba, its dictionary, our word lists."""
    digest = hashlib.sha256()
    dict_path = Path(jieba.__file__).with_name("dict.txt")
    size = dict_path.stat().st_size if dict_path.exists() else -1
    for part in (str(_CACHE_FORMAT), jieba.__version__, str(size), sys.byteorder):
        digest.update(part.encode() + b"\0")
    digest.update(_data("search_dict.txt") + b"\0" + _data("search_synonyms.yaml") + b"\0"
                  + _data("search_abbreviations.yaml"))
    return digest.hexdigest()[:16]


def _read_cache(path: Path) -> tuple[dict[str, int], int] | None:
    """The prefix dictionary stored at ``path``, or None if it is missing or damaged."""
    try:
        raw = path.read_bytes()
        if not raw.startswith(_CACHE_MAGIC):
            return None
        offset = len(_CACHE_MAGIC)
        total, count, blob_len = (
            int.from_bytes(raw[offset + 8 * i : offset + 8 * (i + 1)], "little") for i in range(3)
        )
        offset += 24
        words = raw[offset : offset + blob_len].decode("utf-8").split("\n")
        freqs = array.array("q")
        freqs.frombytes(raw[offset + blob_len :])
        if len(words) != count or len(freqs) != count:
            return None
        return dict(zip(words, freqs, strict=True)), total
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _write_cache(path: Path, freq: Mapping[str, int], total: int) -> None:
    """Write atomically (temporary file + rename): a reader never sees half a file."""
    blob = "\n".join(freq).encode("utf-8")
    freqs = array.array("q", freq.values())
    header = b"".join(n.to_bytes(8, "little") for n in (total, len(freq), len(blob)))
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as out:
            out.write(_CACHE_MAGIC + header + blob + freqs.tobytes())
        os.replace(out.name, path)
    except OSError as exc:
        log.info("jieba cache not written to %s: %s", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(out.name)


@dataclass
class _Segmenter:
    tokenizer: Any  # jieba.Tokenizer
    cache_path: Path | None
    from_cache: bool


_lock = threading.Lock()
_segmenter: _Segmenter | None = None


def _build() -> _Segmenter:
    import jieba  # imported here: 0.3 s that only search needs

    tokenizer = jieba.Tokenizer()
    directory = _cache_dir()
    path = directory / f"prefix-{_cache_key(jieba)}.bin" if directory else None
    cached = _read_cache(path) if path else None
    if cached is not None:
        tokenizer.FREQ, tokenizer.total = cached
        tokenizer.initialized = True
        return _Segmenter(tokenizer, path, True)
    # Build what jieba.initialize() would, without its own cache (slower to load than ours).
    tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
    tokenizer.initialized = True
    for word, freq in _domain_words():
        tokenizer.add_word(word, freq)
    if path is not None:
        _write_cache(path, tokenizer.FREQ, tokenizer.total)
    return _Segmenter(tokenizer, path, False)


def _get() -> _Segmenter:
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                _segmenter = _build()
    return _segmenter


def warm_up() -> dict[str, Any]:
    """Load the tokenizer now (a server calls this at start) and say where it came from."""
    segmenter = _get()
    return {
        "cache_path": str(segmenter.cache_path) if segmenter.cache_path else None,
        "from_cache": segmenter.from_cache,
        "words": len(segmenter.tokenizer.FREQ),
    }


# -- terms ------------------------------------------------------------------------------------


def _han_words(run: str, *, every_word: bool) -> list[str]:
    """The words of a Han run: its precise segmentation, plus, for the index, every dictionary
    word occurring in it (jieba's full mode), so a query word is found inside longer words and
    across the boundaries the precise segmentation happened to draw."""
    tokenizer = _get().tokenizer
    words = list(tokenizer.cut(run, HMM=False))
    if every_word:
        words += [w for w in tokenizer.cut(run, cut_all=True) if len(w) > 1]
    return words


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    for match in _TOKEN.finditer(normalize(text)):
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group()


def _terms(text: str, *, for_index: bool) -> list[str]:
    out: list[str] = []
    for kind, token in _tokens(text):
        if kind == "han":
            out.extend(_han_words(token, every_word=for_index))
        elif kind == "code" and _SEPARATORS.search(token):
            out.append(_SEPARATORS.sub("", token))
            if for_index:
                out.extend(p for p in _SEPARATORS.split(token) if p)
        else:
            out.append(token)
    return out


def _unique(terms: list[str]) -> list[str]:
    stop = stopwords()
    return [t for t in dict.fromkeys(terms) if t not in stop]


def index_terms(text: str) -> str:
    """The terms to store for ``text``, space-joined, for FTS5 or ``to_tsvector('simple', …)``."""
    terms = _terms(text, for_index=True)
    expanded = list(terms)
    for term in terms:
        for synonym in sorted(_synonym_map().get(term, ())):
            expanded.append(synonym)
            expanded.extend(_terms(synonym, for_index=True))
    return " ".join(_unique(expanded))


def query_terms(q: str) -> list[str]:
    """The terms of a search for ``q``, without the fillers of a question (怎么查, 如何 …);
    empty when ``q`` has no searchable word."""
    fillers = query_fillers()
    return [t for t in _unique(_terms(q, for_index=False)) if t not in fillers]


#: one way a query term may occur in an entry: its terms, all of them
Alternative = tuple[str, ...]


def expansions(term: str) -> tuple[Alternative, ...]:
    """The ways ``term`` may occur: itself, then each synonym and full form of an abbreviation
    (as the terms a query for it would have): 人社 → (人社,), (人力资源和社会保障,) …"""
    out: list[Alternative] = [(term,)]
    # synonyms both ways, an abbreviation to its full forms (not a full form to every
    # abbreviation that names it among others)
    others = sorted(_synonym_groups_map().get(term, set()) | set(abbreviations().get(term, ())))
    for other in others:
        alternative = tuple(_unique(_terms(other, for_index=False)))
        if alternative and alternative not in out:
            out.append(alternative)
    return tuple(out)


__all__ = [
    "Alternative",
    "abbreviations",
    "expansions",
    "index_terms",
    "set_default_cache_dir",
    "normalize",
    "query_fillers",
    "question_words",
    "query_terms",
    "stopwords",
    "synonym_groups",
    "synonyms",
    "warm_up",
]
