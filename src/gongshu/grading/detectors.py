"""Sensitive-data detectors, vectorised over Arrow arrays (Art. 10: grading needs to know what a
column holds before a person confirms its grade).

Each detector validates, it does not only match a pattern: an ID number needs a region code that
exists, a real birth date and the GB 11643 check character; a bank card passes Luhn; a mobile
number has an assigned prefix; a name starts with a known surname. Values are found inside free
text too: a value *counts* for a type when it contains at least one valid occurrence.

How it stays fast (see ``_text``): for one batch of one column, :class:`Batch` finds once the
runs of printable ASCII ("atoms": every identifier here is written in ASCII, the address and the
name excepted), splits them into digit runs, digit groups (``138 1234 5678``) and letter-digit
words, and lays candidates of one length out as a byte matrix; each validator is then a few numpy
operations over the matrix. Regular expressions (RE2, through pyarrow) run only on candidates a
byte test let through, and over Han text for addresses and names.

That general path is the reference. :func:`find` (used by everything public) first sends each
value the cheapest way that gives exactly the same answer for it: a repetitive batch is
deduplicated (every detector is a function of the value alone); values of digits only, digits
ending in X, and plain decimals skip atoms and regular expressions; the ASCII runs found in
Chinese text are themselves routed the same way; regexes for IPv4 and coordinates only see atoms
with enough dots. ``tests/grading/test_gate_equivalence.py`` holds the two paths to each other.
The kernels doing the work (Arrow's and numpy's) release the interpreter lock, so the scan runs
batches on several threads (``grading.scan``).

A number is given one type only, in the order cn_id, uscc, cn_mobile, cn_landline, bank_card:
an 18-digit ID number that also passes Luhn is an ID number, not a bank card.

Header names never decide (issue 4): :func:`hinted_types` reports which types a column name
suggests, and the grading proposal uses that to lower its thresholds. The only place a hint acts
here is a column of single coordinates (``112.548963``), which counts as ``geo`` only under a
geo header, because a lone decimal is otherwise an amount or a measurement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshu.grading import _text as tx
from gongshu.grading import _validators as va
from gongshu.grading.vocab import DETECTOR_TYPES, Vocab, load_vocab

__all__ = [
    "DETECTOR_TYPES",
    "Found",
    "ColumnDetections",
    "ColumnScanner",
    "Detection",
    "detect_values",
    "find",
    "hinted_types",
    "match_mask",
]

_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]] = True
_DIGIT_X = np.zeros(256, dtype=bool)
_DIGIT_X[[ord(c) for c in "0123456789Xx"]] = True
_GROUPED = _DIGIT_X.copy()
_GROUPED[[ord(c) for c in " -()+"]] = True
_LETTERS = tx.UPPER | tx.LOWER

#: Precedence among number types: a candidate number gets the first type that accepts it.
NUMBER_TYPES: tuple[str, ...] = ("cn_id", "uscc", "cn_mobile", "cn_landline", "bank_card")
#: Types whose detector looks at an atom alone (not at the text around it).
ATOM_TYPES: tuple[str, ...] = (*NUMBER_TYPES, "email", "passport", "ip", "geo")


# --------------------------------------------------------------------------- regular expressions


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation, longest words first so 自治区 is tried before 区."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


@dataclass(frozen=True)
class Patterns:
    """The RE2 patterns built from the vocabulary (one set per :class:`Vocab`)."""

    email: str
    ipv4: str
    ipv6: str
    geo_pair: str
    geo_single: str
    passport: str
    plate: str
    address: str
    name_in_text: str


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    [
        rf"(?:{_H}:){{7}}{_H}",
        rf"(?:{_H}:){{1,7}}:",
        rf"(?:{_H}:){{1,6}}:{_H}",
        rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        rf"{_H}:(?::{_H}){{1,6}}",
        rf":(?::{_H}){{1,7}}",
    ]
)


@cache
def patterns(vocab: Vocab) -> Patterns:
    decimals = int(vocab.setting("geo", "min_decimals", 4))
    coord = rf"-?[0-9]{{1,3}}\.[0-9]{{{decimals},}}"
    single = "".join(vocab.single_surnames)
    surname = f"(?:{_alternation(vocab.compound_surnames)}|[{single}])"
    cues = _alternation(vocab.setting("person_name", "cue_words", ()))
    honorifics = _alternation(vocab.setting("person_name", "honorifics", ()))
    n = vocab.max_name_chars
    division = _alternation(vocab.division_suffixes)
    street = _alternation(vocab.street_words)
    number_word = _alternation(vocab.number_words)
    letter = "A-HJ-NP-Z"  # plates never use I or O
    provinces = "".join(vocab.province_abbreviations)
    suffixes = "".join(vocab.plate_suffixes)
    separators = re.escape(vocab.plate_separators)
    passports = "|".join(vocab.setting("passport", "patterns", ()))
    return Patterns(
        email=(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
               r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"),
        ipv4=rf"(?:^|[^0-9.])(?:{_OCTET}\.){{3}}{_OCTET}(?:\.?$|[^0-9.])",
        ipv6=rf"(?:^|[^0-9A-Za-z:.])(?:{_IPV6})(?:$|[^0-9A-Za-z:.])",
        geo_pair=rf"(?:^|[^0-9.])(?P<a>{coord})\s*[,;/ ]\s*(?P<b>{coord})(?:$|[^0-9.])",
        geo_single=rf"^{coord}$",
        passport=rf"^(?:{passports})$",
        plate=(rf"^[{provinces}][{letter}][{separators}]?(?:[{letter}0-9]{{5}}|[DF][{letter}0-9][0-9]{{4}}"
               rf"|[0-9]{{5}}[DF]|[{letter}0-9]{{4}}[{suffixes}])(?:$|[^A-Za-z0-9])"),
        # Only ever tested for occurring somewhere in a value, so written in its shortest form
        # with the same answer (cheaper to compile and to run): of ``\p{Han}{2,n}?D(?:\p{Han}{1,n}?D)+
        # |\p{Han}{1,n}?S[0-9]…`` a value holds a match exactly when it holds one with the fewest
        # leading Han characters and a single repetition.
        address=(rf"\p{{Han}}{{2}}(?:{division})\p{{Han}}{{1,{n}}}(?:{division})"
                 rf"|\p{{Han}}(?:{street})[0-9]{{1,5}}(?:-[0-9]{{1,5}})?(?:{number_word})"),
        name_in_text=(rf"(?:{cues})[:：\s]*{surname}\p{{Han}}{{1,2}}"
                      rf"|{surname}(?:{honorifics})"),
    )


# --------------------------------------------------------------------------- one batch


def _regex_rows(values: pa.Array, rows: np.ndarray, pattern: str) -> np.ndarray:
    """The entries of ``rows`` whose value (an element of ``values``) contains ``pattern``."""
    if len(values) == 0:
        return rows[:0]
    hit = pc.match_substring_regex(values, pattern)
    return rows[np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)]


class Batch:
    """One batch of one column, with the intermediate results its detectors share (lazy)."""

    def __init__(self, array: pa.Array, *, vocab: Vocab, header: str | None = None,
                 fast: bool = True, ascii: bool | None = None) -> None:
        self.array = _as_text(array)
        if ascii is not None:
            # Known for every value (a route holds only ASCII or only non-ASCII values).
            self.__dict__["ascii"] = np.full(len(self.array), ascii, dtype=bool)
        self.vocab = vocab
        #: Use the gates and the faster equivalents (False: the reference path, for tests).
        self.fast = fast
        self.header = header
        self.hints = vocab.hinted_types(header)
        self.n = len(self.array)
        self.values = tx.Strings.from_arrow(self.array)

    # -- value-level facts -----------------------------------------------------------------

    @cached_property
    def ascii(self) -> np.ndarray:
        flags = pc.string_is_ascii(self.array)
        return np.asarray(flags.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)

    @cached_property
    def han_rows(self) -> np.ndarray:
        """Rows with non-ASCII text (where names and addresses can be)."""
        return np.flatnonzero(~self.ascii & (self.values.lengths > 0))

    @cached_property
    def text(self) -> tuple[np.ndarray, pa.Array]:
        """Non-ASCII values of four characters or more: where an address or a name in a
        sentence can be (shorter values are checked whole, without regular expressions)."""
        rows = self.han_rows[self.values.lengths[self.han_rows] >= 12]
        if len(rows) == self.n:
            return rows, self.array
        return rows, self.array.take(pa.array(rows))

    @cached_property
    def nonempty(self) -> np.ndarray:
        """Values with at least one character other than white space (the ratio's denominator)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.atoms.rows] = True
        mask[self.han_rows] = True
        return mask

    # -- ASCII atoms and the candidates cut from them ---------------------------------------

    @cached_property
    def atoms(self) -> tx.Spans:
        """Runs of printable ASCII, single spaces inside allowed (``+86 138 1234 5678``).

        An ASCII value is one atom (trimmed); in other values the runs are found sparsely.
        """
        ascii_rows = np.flatnonzero(self.ascii & (self.values.lengths > 0))
        whole = tx.trimmed(self.values.take(ascii_rows))
        keep = whole.lengths > 0
        parts = [tx.Spans(ascii_rows[keep], whole.take(keep))]
        if len(self.han_rows):
            found = (tx.ink_runs if self.fast else tx.ink_runs_sparse)(self.values)
            parts.append(found.select(~self.ascii[found.rows]))
        return _concat_spans(parts)

    @cached_property
    def atom_bits(self) -> np.ndarray:
        """Byte classes of each atom (``DIGIT`` alone for plain numbers)."""
        return tx.class_bits(self.atoms.strings)

    @cached_property
    def mixed_atoms(self) -> tx.Spans:
        """Atoms that are not plain digits, long enough to hold a number (10+ characters)."""
        return self.atoms.select((self.atom_bits != tx.DIGIT) & (self.atoms.strings.lengths >= 10))

    @cached_property
    def numbers(self) -> list[tuple[np.ndarray, tx.Strings]]:
        """Candidate numbers, in parts: plain-digit atoms, digit runs cut from other atoms (an ID
        may end in X), and digit groups with their separators removed."""
        plain = self.atoms.select(self.atom_bits == tx.DIGIT)
        mixed = self.mixed_atoms
        inside = tx.contiguous(mixed.strings)
        digit_runs = _strip_leading_x(tx.runs(inside, _DIGIT_X))
        # 13812345678.50 is an amount, not a phone: drop digit runs that are part of a decimal.
        digit_runs = digit_runs.select(~_in_decimal(digit_runs, inside))
        groups = tx.runs(inside, _GROUPED)
        groups = groups.select((tx.class_bits(groups.strings) & tx.SEP) != 0)
        return [
            (plain.rows, plain.strings),
            (mixed.rows[digit_runs.rows], digit_runs.strings),
            (mixed.rows[groups.rows], _drop_separators(groups.strings)),
        ]

    @cached_property
    def words(self) -> tuple[np.ndarray, tx.Strings]:
        """Runs of letters and digits that contain a letter (codes, passport numbers)."""
        bits = self.atom_bits
        with_letters = self.atoms.select(((bits & _LETTERS) != 0) & (self.atoms.strings.lengths >= 7))
        found = tx.runs(with_letters.strings, _ALNUM)
        keep = (tx.class_bits(found.strings) & _LETTERS) != 0
        return with_letters.rows[found.rows[keep]], found.strings.take(keep)

    @cached_property
    def number_types(self) -> dict[str, np.ndarray]:
        """Rows holding a valid number of each type, each number given one type only."""
        found: dict[str, list[np.ndarray]] = {t: [] for t in NUMBER_TYPES}
        for rows, strings in self.numbers:
            lengths = strings.lengths
            if len(lengths) == 0:
                continue
            counts = np.bincount(np.clip(lengths, 0, 20), minlength=21)
            for width in np.flatnonzero(counts[10:20]) + 10:
                width = int(width)
                sel = lengths == width
                m = strings.take(sel).matrix(width)
                for kind, hit in _classify_numbers(m, self.vocab).items():
                    found[kind].append(rows[sel][hit])
        # USCC written with letters (most are) come from the words.
        wrows, words = self.words
        sel = words.lengths == 18
        if sel.any():
            found["uscc"].append(wrows[sel][va.uscc(words.take(sel).matrix(18))])
        return {k: _concat_rows(parts) for k, parts in found.items()}

    @cached_property
    def atom_dots(self) -> np.ndarray:
        """Number of ``.`` in each atom (a gate: an IPv4 address has three, a pair of
        coordinates two)."""
        strings = self.atoms.strings
        if len(strings) == 0:
            return np.zeros(0, dtype=np.int64)
        data, offsets = strings.compact()
        dots = np.zeros(len(data) + 1, dtype=np.int32)
        np.cumsum(data == ord("."), out=dots[1:])
        return dots[offsets[1:]] - dots[offsets[:-1]]

    def atoms_with(self, bits: int, *, all_of: bool = True,
                   min_dots: int = 0) -> tuple[np.ndarray, pa.Array]:
        """Atoms having all (or any) of ``bits``, as rows and an Arrow array for regexes.

        ``min_dots`` is a gate: atoms with fewer dots cannot match the caller's pattern, and
        are left out on the fast path only (the reference path keeps them, to prove the gate
        hides nothing)."""
        have = self.atom_bits & bits
        sel = (have == bits) if all_of else (have != 0)
        if self.fast and min_dots and sel.any():
            sel &= self.atom_dots >= min_dots
        chosen = self.atoms.select(sel)
        return chosen.rows, chosen.strings.to_arrow()

    # -- results -----------------------------------------------------------------------------

    def rows_for(self, kind: str) -> np.ndarray:
        """Row indices (possibly repeated) where a valid ``kind`` occurs."""
        if kind in ATOM_TYPES and self.fast and self.atoms_are_runs:
            return self.atoms.rows[self.atom_types[kind]]
        return DETECTORS[kind].find(self)

    @cached_property
    def atoms_are_runs(self) -> bool:
        """Every atom is an ASCII run inside Chinese text (no ASCII value in the batch)."""
        return len(self.han_rows) > 0 and not (self.ascii & (self.values.lengths > 0)).any()

    @cached_property
    def atom_types(self) -> dict[str, np.ndarray]:
        """Atoms (indices into :attr:`atoms`) holding each of :data:`ATOM_TYPES`.

        Those types are found from the atom alone, and an ASCII run found in Chinese text has
        no white space at its ends: taken as a value of its own it is its own single atom. So
        the atoms can go through the routes as a batch of values: the many that are plain
        digits (phones, IDs) take the digits route instead of the atom machinery.
        """
        values = self.atoms.strings.to_arrow()
        _, found = _find_routed(values, self.header, ATOM_TYPES, self.vocab, ascii_words=True)
        return found

    def mask(self, kind: str) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[self.rows_for(kind)] = True
        return out


def _classify_numbers(m: np.ndarray, v: Vocab) -> dict[str, np.ndarray]:
    """Give each candidate number (rows of one width) at most one type, in NUMBER_TYPES order.

    Each validator sees only the rows no earlier type claimed.
    """
    width = m.shape[1]
    landline = v.settings.get("cn_landline", {})
    checks: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = []
    if width == 18:
        min_year = int(v.setting("cn_id", "min_birth_year", 1900))
        checks.append(("cn_id", lambda x: va.cn_id18(x, v.region_table, min_year=min_year)))
        checks.append(("uscc", va.uscc))
        # An 18-digit number with an existing region and a real birth date but a wrong check
        # character is a mistyped ID or a serial, not a bank card: claim it for no type.
        checks.append(("", lambda x: va.cn_id_shaped(x, v.region_table, min_year=min_year)))
    if width == 15:
        checks.append(("cn_id", lambda x: va.cn_id15(x, v.region_table)))
    if width == 11:
        checks.append(("cn_mobile", lambda x: va.mobile(x, v.mobile_prefix_table)))
    for prefix in v.country_prefixes:
        if width == 11 + len(prefix):
            lead = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
            checks.append(("cn_mobile", lambda x, k=len(prefix), lead=lead: (
                (x[:, :k] == lead).all(axis=1) & va.mobile(x[:, k:], v.mobile_prefix_table))))
    if 10 <= width <= 12:
        areas = frozenset(int(a) for a in landline.get("three_digit_area_codes", ()))
        subs = frozenset(int(n) for n in landline.get("subscriber_lengths", (7, 8)))
        checks.append(("cn_landline", lambda x: va.landline(x, areas, subs)))
    if width in set(v.setting("bank_card", "lengths", (16, 17, 18, 19))):
        first = str(v.setting("bank_card", "first_digits", "34569"))
        checks.append(("bank_card", lambda x: va.bank_card(x, first)))
    out: dict[str, np.ndarray] = {}
    left = np.arange(len(m))
    for kind, check in checks:
        if len(left) == 0:
            break
        ok = check(m if len(left) == len(m) else m[left])
        hit = left[ok]
        out[kind] = np.concatenate([out[kind], hit]) if kind in out else hit
        left = left[~ok]
    out.pop("", None)
    return out


def _concat_spans(parts: Sequence[tx.Spans]) -> tx.Spans:
    """Spans found in different places as one set (bytes copied only if buffers differ)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return tx.Spans(empty, tx.Strings(np.zeros(0, np.uint8), empty, empty))
    if len(parts) == 1:
        return parts[0]
    if all(p.strings.data is parts[0].strings.data for p in parts):
        return tx.Spans(np.concatenate([p.rows for p in parts]),
                        tx.Strings(parts[0].strings.data,
                                   np.concatenate([p.strings.starts for p in parts]),
                                   np.concatenate([p.strings.ends for p in parts])))
    strings = _concat_strings([p.strings for p in parts])
    return tx.Spans(np.concatenate([p.rows for p in parts]), strings)


def _strip_leading_x(found: tx.Spans) -> tx.Spans:
    """An X belongs at the end of an ID number only: ``x110105…`` starts at the digit."""
    strings = found.strings
    starts = strings.starts.copy()
    for _ in range(4):
        lead = (starts < strings.ends) & np.isin(strings.data[np.minimum(
            starts, max(len(strings.data) - 1, 0))], (ord("X"), ord("x")))
        if not lead.any():
            break
        starts += lead
    return tx.Spans(found.rows, tx.Strings(strings.data, starts, strings.ends))


def _in_decimal(found: tx.Spans, inside: tx.Strings) -> np.ndarray:
    """Runs of digits that are the whole or fractional part of a decimal number (``12.50``)."""
    data = inside.data
    if len(found) == 0 or len(data) == 0:
        return np.zeros(len(found), dtype=bool)
    lo, hi = inside.starts[found.rows], inside.ends[found.rows]
    s, e = found.strings.starts, found.strings.ends
    digit = tx.BYTE_CLASS == tx.DIGIT
    at = lambda i: data[np.clip(i, 0, len(data) - 1)]  # noqa: E731 - index guard
    after = (e + 1 < hi) & (at(e) == ord(".")) & digit[at(e + 1)]
    before = (s - 2 >= lo) & (at(s - 1) == ord(".")) & digit[at(s - 2)]
    return after | before


def _drop_separators(strings: tx.Strings) -> tx.Strings:
    """Digit groups with their separators removed (``138-1234-5678`` -> ``13812345678``)."""
    if len(strings) == 0:
        return strings
    data, offsets = strings.compact()
    keep = tx.BYTE_CLASS[data] != tx.SEP
    kept = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    new_offsets = kept[offsets]
    return tx.Strings(data[keep], new_offsets[:-1], new_offsets[1:])


def _concat_strings(parts: Sequence[tx.Strings]) -> tx.Strings:
    """Several span sets over different buffers as one (copies the bytes once)."""
    datas, starts, ends, base = [], [], [], 0
    for part in parts:
        data, offsets = part.compact()
        datas.append(data)
        starts.append(offsets[:-1] + base)
        ends.append(offsets[1:] + base)
        base += len(data)
    return tx.Strings(np.concatenate(datas) if datas else np.zeros(0, np.uint8),
                      np.concatenate(starts), np.concatenate(ends))


def _in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership in a small sorted key array (cheaper than ``np.isin`` for many values)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[at] == values


def _concat_rows(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _as_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string view of any column: numbers as their digits, other types as no text."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array
    if pa.types.is_string_view(t):
        return array.cast(pa.large_string())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return array.cast(pa.large_string())
    # Dates, times, booleans, binary and nested values hold none of the identifiers we look for.
    return pa.nulls(len(array), pa.large_string())


# --------------------------------------------------------------------------- the detectors


@dataclass(frozen=True)
class Detector:
    """One sensitive-data type: how it is found and validated, and where the rule comes from."""

    type: str
    zh: str
    how: str
    find: Callable[[Batch], np.ndarray] = field(repr=False)


def _find_number(kind: str) -> Callable[[Batch], np.ndarray]:
    return lambda b: b.number_types[kind]


def _find_email(b: Batch) -> np.ndarray:
    rows, values = b.atoms_with(tx.AT)
    return _regex_rows(values, rows, patterns(b.vocab).email)


def _find_ip(b: Batch) -> np.ndarray:
    p = patterns(b.vocab)
    rows4, values4 = b.atoms_with(tx.DIGIT | tx.DOT, min_dots=3)
    rows6, values6 = b.atoms_with(tx.COLON)
    return _concat_rows([_regex_rows(values4, rows4, p.ipv4), _regex_rows(values6, rows6, p.ipv6)])


def _find_geo(b: Batch) -> np.ndarray:
    p = patterns(b.vocab)
    needs_hint = bool(b.vocab.setting("geo", "singles_need_header_hint", True))
    singles = "geo" in b.hints or not needs_hint
    # A pair of coordinates has two decimal points, a single coordinate one.
    rows, values = b.atoms_with(tx.DIGIT | tx.DOT, min_dots=1 if singles else 2)
    if len(values) == 0:
        return rows
    found = []
    pairs = pc.extract_regex(values, p.geo_pair)
    matched = np.asarray(pairs.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if matched.any():
        pairs = pairs.filter(pa.array(matched))
        a = np.abs(pc.cast(pairs.field("a"), pa.float64()).to_numpy())
        c = np.abs(pc.cast(pairs.field("b"), pa.float64()).to_numpy())
        ok = ((a <= 90) & (c <= 180)) | ((a <= 180) & (c <= 90))
        found.append(rows[matched][ok])
    if singles:
        single = np.asarray(pc.match_substring_regex(values, p.geo_single)
                            .to_numpy(zero_copy_only=False), dtype=bool)
        if single.any():
            numbers = pc.cast(values.filter(pa.array(single)), pa.float64()).to_numpy()
            found.append(rows[single][np.abs(numbers) <= 180])
    return _concat_rows(found)


def _find_passport(b: Batch) -> np.ndarray:
    rows, words = b.words
    sel = (words.lengths >= 8) & (words.lengths <= 10)
    return _regex_rows(words.take(sel).to_arrow(), rows[sel], patterns(b.vocab).passport)


def _find_plate(b: Batch) -> np.ndarray:
    """Province abbreviation + authority letter: the letter starts an atom right after the
    abbreviation's three UTF-8 bytes; the plate is then checked on a short window."""
    atoms = b.atoms
    if len(atoms) == 0 or len(b.han_rows) == 0:
        return atoms.rows[:0]
    starts = atoms.strings.starts
    first = atoms.strings.data[starts]
    # Atoms starting with a capital letter three bytes or more into their value (few: most
    # atoms in Chinese text are numbers), then the three bytes before them.
    upper = np.flatnonzero((first >= ord("A")) & (first <= ord("Z")))
    upper = upper[starts[upper] - 3 >= b.values.starts[atoms.rows[upper]]]
    keys = tx.utf8_key_before(atoms.strings, starts[upper])
    after_province = upper[_in_sorted(keys, b.vocab.province_keys)]
    if len(after_province) == 0:
        return atoms.rows[:0]
    rows = atoms.rows[after_province]
    start = starts[after_province] - 3
    end = np.minimum(start + 24, b.values.ends[rows])
    windows = tx.Strings(atoms.strings.data, start, end).to_arrow()
    return _regex_rows(windows, rows, patterns(b.vocab).plate)


def _find_person_name(b: Batch) -> np.ndarray:
    rows, text = b.text
    found = [_regex_rows(text, rows, patterns(b.vocab).name_in_text)]
    found.append(_whole_value_names(b))
    return _concat_rows(found)


def _whole_value_names(b: Batch) -> np.ndarray:
    """Values that are a name: surname + one or two characters (compound: + one or two), but
    not a word of a closed vocabulary that looks like one (回族, 高中, 岳母: not_names.yaml)."""
    rows = b.han_rows
    short = rows[b.values.lengths[rows] <= 16]
    if len(short) == 0:
        return short
    trimmed = pc.utf8_trim_whitespace(b.array.take(pa.array(short)))
    listed = pc.is_in(trimmed, value_set=_not_names_array(b.vocab))
    if pc.any(listed).as_py():
        keep = np.asarray(pc.invert(listed).to_numpy(zero_copy_only=False), dtype=bool)
        short, trimmed = short[keep], trimmed.filter(pa.array(keep))
        if len(short) == 0:
            return short
    values = tx.Strings.from_arrow(trimmed)
    v = b.vocab
    found = []
    for chars in (2, 3, 4):
        sel = values.lengths == 3 * chars
        if not sel.any():
            continue
        cps, han = tx.han_codepoints(values.take(sel).matrix(3 * chars))
        unlikely = v.not_given_table[cps]
        single = v.surname_table[cps[:, 0]] & ~unlikely[:, 1:].any(axis=1) & (chars <= 3)
        compound = _in_sorted((cps[:, 0].astype(np.int64) << 16) | cps[:, 1], v.compound_keys)
        compound &= ~unlikely[:, 2:].any(axis=1) & (chars >= 3)
        found.append(short[sel][han & (single | compound)])
    return _concat_rows(found)


@cache
def _not_names_array(vocab: Vocab) -> pa.Array:
    return pa.array(sorted(vocab.not_names), type=pa.string())


def _find_address(b: Batch) -> np.ndarray:
    rows, text = b.text
    return _regex_rows(text, rows, patterns(b.vocab).address)


DETECTORS: Mapping[str, Detector] = {
    d.type: d
    for d in (
        Detector("cn_id", "公民身份号码", "18 digits (last may be X) with a region code that exists, "
                 "a real birth date and the GB 11643 check character; or 15 digits with region and "
                 "yymmdd date", _find_number("cn_id")),
        Detector("cn_mobile", "手机号码", "11 digits with an assigned prefix, after +86/0086 and "
                 "spaces or dashes are removed", _find_number("cn_mobile")),
        Detector("cn_landline", "固定电话", "area code (010, 02x, or 03xx-09xx) + 7-8 digit "
                 "subscriber number, with or without - ( ) separators", _find_number("cn_landline")),
        Detector("bank_card", "银行卡号", "16-19 digits passing Luhn with a plausible first digit",
                 _find_number("bank_card")),
        Detector("uscc", "统一社会信用代码", "18 characters of the GB 32100 alphabet, a valid "
                 "department/category pair and the check character", _find_number("uscc")),
        Detector("email", "电子邮箱", "local@domain.tld", _find_email),
        Detector("passport", "护照号码", "PRC passport number formats (detectors.yaml)",
                 _find_passport),
        Detector("license_plate", "机动车号牌", "province abbreviation + letter + 5 characters "
                 "(new energy 6, or a 挂/学/警 suffix)", _find_plate),
        Detector("ip", "IP地址", "IPv4 with octets 0-255, or an IPv6 text form", _find_ip),
        Detector("geo", "地理坐标", "latitude,longitude pair in range with enough decimals; single "
                 "coordinates only under a geo column name", _find_geo),
        Detector("person_name", "姓名", "a whole value of surname + 1-2 characters, or a name after "
                 "a cue word (姓名：) or before an honorific (先生, 女士) in text", _find_person_name),
        Detector("address", "地址", "two administrative divisions in a row, or a street with a "
                 "house number", _find_address),
    )
}
assert tuple(DETECTORS) == DETECTOR_TYPES


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Found:
    """Where each type occurs in one batch of one column.

    ``rows[kind]`` indexes ``values`` (possibly repeated); ``values_nonempty`` says which values
    are non-empty (the ratio's denominator). The values are the batch's rows, or, when the
    batch was deduplicated, its distinct values, and ``index`` maps each row to its value
    (``len(values_nonempty)`` for a null).
    """

    n: int
    values_nonempty: np.ndarray
    rows: Mapping[str, np.ndarray]
    index: np.ndarray | None = None

    @property
    def nonempty(self) -> np.ndarray:
        """One boolean per row."""
        if self.index is None:
            return self.values_nonempty
        return np.append(self.values_nonempty, False)[self.index]

    def _value_mask(self, kind: str) -> np.ndarray:
        out = np.zeros(len(self.values_nonempty) + 1, dtype=bool)
        out[self.rows[kind]] = True
        return out

    def mask(self, kind: str) -> np.ndarray:
        """One boolean per row: does it contain a valid ``kind``?"""
        value_mask = self._value_mask(kind)
        return value_mask[:-1] if self.index is None else value_mask[self.index]

    def counts(self) -> BatchCounts:
        nonempty = np.append(self.values_nonempty, False)
        # How many rows hold each distinct value (None: one each).
        weights = None if self.index is None else np.bincount(self.index, minlength=len(nonempty))

        def total(mask: np.ndarray) -> int:
            return int(mask.sum() if weights is None else weights[mask].sum())

        # Most types occur in no value of a column: nothing to add up for them.
        counts = {kind: total(self._value_mask(kind) & nonempty) if len(rows) else 0
                  for kind, rows in self.rows.items()}
        return BatchCounts(self.n, total(nonempty), counts)


#: Rows looked at to decide whether a batch is worth deduplicating, and the share of rows a
#: deduplication must save to pay for hashing every value once.
DEDUP_SAMPLE = 4096
DEDUP_MIN_SAVING = 0.3


def find(array: pa.Array | pa.ChunkedArray, *, header: str | None = None,
         types: Iterable[str] = DETECTOR_TYPES, vocab: Vocab | None = None,
         fast: bool = True, dedup: bool | None = None) -> Found:
    """Run the detectors of ``types`` over one batch of one column.

    On the fast path each value goes the cheapest way that gives exactly what the general path
    (:class:`Batch`, ``fast=False``) gives for it, decided by Arrow kernels that read each byte
    once and release the interpreter lock:

    - a batch whose values repeat a lot (notes, names, categories) is deduplicated first: every
      detector is a function of the value alone, so each distinct value is examined once and
      counted as often as it occurs (``dedup=None`` decides from a sample, see
      :func:`duplicate_share`);
    - null and empty values hold nothing;
    - values of ASCII digits only (most ID, phone and account columns) can only be a number:
      their matrix goes straight to the validators, without atoms or regular expressions;
    - values with non-ASCII text and the remaining ASCII values each take the general path on
      their own (so that, say, the digits of a phone column never wait for its few Chinese
      notes), with its gates on.

    ``tests/grading/test_gate_equivalence.py`` holds both paths to each other, value by value.
    """
    vocab = vocab or load_vocab()
    types = tuple(types)
    text = _as_text(array)
    n = len(text)
    if not fast:
        ref = Batch(text, vocab=vocab, header=header, fast=False)
        return Found(n, ref.nonempty, {kind: ref.rows_for(kind) for kind in types})
    if dedup is None:
        dedup = n >= 4 * DEDUP_SAMPLE and duplicate_share(text) >= DEDUP_MIN_SAVING
    if not dedup:
        nonempty, rows = _find_routed(text, header, types, vocab)
        return Found(n, nonempty, rows)
    encoded = pc.dictionary_encode(text)
    distinct = encoded.dictionary
    index = encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    nonempty, rows = _find_routed(distinct, header, types, vocab)
    return Found(n, nonempty, rows, index=np.asarray(index, dtype=np.int64))


def duplicate_share(text: pa.Array, sample: int = DEDUP_SAMPLE) -> float:
    """An estimate, from an evenly spread sample, of the share of rows that repeat a value seen
    earlier in the batch (what deduplication saves).

    Two views, the larger wins: the sample's rows whose value it holds again (a few values
    filling much of the column, like boilerplate notes), and one minus Chao1's estimate of the
    number of distinct values over the rows (many values each repeated a little, like names).
    """
    n = len(text)
    if n == 0:
        return 0.0
    picked = text.take(pa.array(np.linspace(0, n - 1, min(sample, n)).astype(np.int64)))
    counts = np.asarray(pc.value_counts(picked).field("counts").to_numpy(zero_copy_only=False))
    size, distinct = int(counts.sum()), len(counts)
    once, twice = int((counts == 1).sum()), int((counts == 2).sum())
    repeated = 1.0 - once / size
    chao1 = distinct + once * (once - 1) / (2 * (twice + 1))
    return max(repeated, 1.0 - min(float(n), chao1) / n)


def _find_routed(text: pa.Array, header: str | None, types: Sequence[str], vocab: Vocab, *,
                 ascii_words: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``ascii_words``: every value is known to be non-empty ASCII (atoms)."""
    n = len(text)
    nonempty = np.zeros(n, dtype=bool)
    found: dict[str, list[np.ndarray]] = {kind: [] for kind in types}
    for route, rows in _routes(text, ascii_words=ascii_words):
        part = text if len(rows) == n else text.take(pa.array(rows))
        if route == "digits":
            nonempty[rows] = True
            for kind, hit in _digit_values(part, vocab, types).items():
                found[kind].append(rows[hit])
            continue
        if route == "other":
            # ASCII values of two common shapes need no atoms either (see _ascii_shapes).
            singles = _geo_singles(vocab, header)
            with_x, decimal = _ascii_shapes(part, singles=singles)
            if len(with_x) or len(decimal):
                nonempty[rows[with_x]] = True
                nonempty[rows[decimal]] = True
                if len(with_x):
                    for kind, hit in _digit_values(part.take(pa.array(with_x)), vocab, types,
                                                   words=True).items():
                        found[kind].append(rows[with_x[hit]])
                rest = np.ones(len(rows), dtype=bool)
                rest[with_x] = False
                rest[decimal] = False
                rows = rows[rest]
                if len(rows) == 0:
                    continue
                part = text.take(pa.array(rows))
        batch = Batch(part, vocab=vocab, header=header, ascii=route == "other")
        nonempty[rows[batch.nonempty]] = True
        for kind in types:
            found[kind].append(rows[batch.rows_for(kind)])
    return nonempty, {kind: _concat_rows(parts) for kind, parts in found.items()}


def _geo_singles(vocab: Vocab, header: str | None) -> bool:
    """Whether a lone coordinate (``112.548963``) counts as ``geo`` under this header."""
    needs_hint = bool(vocab.setting("geo", "singles_need_header_hint", True))
    return not needs_hint or "geo" in vocab.hinted_types(header)


_NOT_DIGIT = np.ones(256, dtype=np.uint8)
_NOT_DIGIT[ord("0") : ord("9") + 1] = 0


def _ascii_shapes(array: pa.Array, *, singles: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a batch of non-empty ASCII values (not all digits) that have one of two shapes:

    - digits then a final ``X``/``x`` (ID numbers), not 8-10 long: the whole value is its one
      atom, its one candidate number and its one word; nothing else can match. (8-10
      characters would be a candidate passport word, left to the general path.)
    - digits, one ``.``, digits (amounts): the digit runs touch the decimal point, so they are
      no candidate numbers; one dot is too few for IPv4 or a pair of coordinates; a lone
      coordinate counts only when ``singles`` (then the general path takes them).
    """
    values = tx.Strings.from_arrow(array)
    if len(values) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    data, starts, ends = values.data, values.starts, values.ends
    lo, hi = int(starts[0]), int(ends[-1])
    segment = data[lo:hi]
    others = np.add.reduceat(_NOT_DIGIT[segment], starts - lo, dtype=np.int32)
    one = others == 1
    first, last = data[starts], data[ends - 1]
    lengths = ends - starts
    with_x = one & ((last == ord("X")) | (last == ord("x"))) & ((lengths < 8) | (lengths > 10))
    if singles:
        decimal = np.zeros(len(values), dtype=bool)
    else:
        dots = np.add.reduceat((segment == ord(".")).view(np.uint8), starts - lo,
                               dtype=np.int32)
        decimal = one & (dots == 1) & (_NOT_DIGIT[first] == 0) & (_NOT_DIGIT[last] == 0)
    return np.flatnonzero(with_x), np.flatnonzero(decimal)


def _routes(text: pa.Array, *, ascii_words: bool = False) -> list[tuple[str, np.ndarray]]:
    """The rows of each route (see :func:`find`); null and empty values are in none.

    ``ascii_words``: every value is known to be non-empty ASCII (no need to look)."""
    if ascii_words:
        digits = _flags(pc.ascii_is_decimal(text), False)
        routes = [("digits", digits), ("other", ~digits)]
        return [(name, rows) for name, mask in routes if len(rows := np.flatnonzero(mask))]
    ascii = _flags(pc.string_is_ascii(text), True)
    digits = ascii & _flags(pc.ascii_is_decimal(text), False)
    lengths = np.asarray(pc.binary_length(text).fill_null(0).to_numpy(zero_copy_only=False))
    routes = [("digits", digits), ("text", ~ascii), ("other", ascii & ~digits & (lengths > 0))]
    return [(name, rows) for name, mask in routes if len(rows := np.flatnonzero(mask))]


def _flags(array: pa.Array, null: bool) -> np.ndarray:
    return np.asarray(array.fill_null(null).to_numpy(zero_copy_only=False), dtype=bool)


def _digit_values(array: pa.Array, vocab: Vocab, types: Sequence[str], *,
                  words: bool = False) -> dict[str, np.ndarray]:
    """Rows of a batch of ASCII-digit values that are a valid number of each type.

    Such a value is one atom, and its only candidate number is the whole value, so only the
    number validators can accept it (nothing else matches without a letter, a dot, ``@``, ``:``
    or Chinese text). With ``words`` the values end in ``X`` and are also one word each, which
    the USCC check sees whatever number type the value was given (as on the general path).
    """
    if not set(types) & set(NUMBER_TYPES):
        return {}
    values = tx.Strings.from_arrow(array)
    lengths = values.lengths
    widths = np.bincount(np.minimum(lengths, 20), minlength=21)
    found: dict[str, list[np.ndarray]] = {}
    for width in np.flatnonzero(widths[10:20]) + 10:
        width = int(width)
        if widths[width] == len(lengths):
            rows, m = np.arange(len(lengths)), values.matrix(width)
        else:
            rows = np.flatnonzero(lengths == width)
            m = values.take(rows).matrix(width)
        for kind, hit in _classify_numbers(m, vocab).items():
            found.setdefault(kind, []).append(rows[hit])
        if words and width == 18:
            found.setdefault("uscc", []).append(rows[va.uscc(m)])
    return {kind: _concat_rows(found[kind]) for kind in types if kind in found}


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Detection:
    """How many non-empty values of a column contain a valid ``type``."""

    type: str
    count: int
    nonempty: int

    @property
    def ratio(self) -> float:
        return self.count / self.nonempty if self.nonempty else 0.0


@dataclass(frozen=True)
class ColumnDetections:
    """Everything the detectors found in one column."""

    name: str | None
    rows: int
    nonempty: int
    counts: Mapping[str, int]
    hinted: frozenset[str]

    @property
    def detections(self) -> list[Detection]:
        """Types with at least one match, by ratio (then count, then type name)."""
        found = [Detection(t, c, self.nonempty) for t, c in self.counts.items() if c > 0]
        return sorted(found, key=lambda d: (-d.ratio, -d.count, d.type))


class ColumnScanner:
    """Accumulates detections over the batches of one column."""

    def __init__(self, name: str | None = None, *, types: Iterable[str] = DETECTOR_TYPES,
                 vocab: Vocab | None = None) -> None:
        self.name = name
        self.vocab = vocab or load_vocab()
        self.types = tuple(types)
        unknown = set(self.types) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detector types: {sorted(unknown)}")
        self.rows = 0
        self.nonempty = 0
        self.counts = dict.fromkeys(self.types, 0)

    def add(self, array: pa.Array | pa.ChunkedArray) -> None:
        counts = count_batch(array, header=self.name, types=self.types, vocab=self.vocab)
        self.merge(counts)

    def merge(self, counts: BatchCounts) -> None:
        self.rows += counts.rows
        self.nonempty += counts.nonempty
        for t, c in counts.counts.items():
            self.counts[t] += c

    def result(self) -> ColumnDetections:
        return ColumnDetections(self.name, self.rows, self.nonempty, dict(self.counts),
                                self.vocab.hinted_types(self.name))


@dataclass(frozen=True)
class BatchCounts:
    rows: int
    nonempty: int
    counts: Mapping[str, int]


def count_batch(array: pa.Array | pa.ChunkedArray, *, header: str | None = None,
                types: Iterable[str] = DETECTOR_TYPES, vocab: Vocab | None = None,
                fast: bool = True) -> BatchCounts:
    """Count, for each type, the non-empty values of one batch that contain a valid occurrence."""
    return find(array, header=header, types=types, vocab=vocab, fast=fast).counts()


def detect_values(values: pa.Array | pa.ChunkedArray | Sequence[str | None], *,
                  header: str | None = None, types: Iterable[str] = DETECTOR_TYPES,
                  vocab: Vocab | None = None) -> ColumnDetections:
    """Run the detectors over one column held in memory (a list or an Arrow array)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(list(values), type=pa.large_string())
    scanner = ColumnScanner(header, types=types, vocab=vocab)
    scanner.add(values)
    return scanner.result()


def match_mask(values: pa.Array | pa.ChunkedArray | Sequence[str | None], kind: str, *,
               header: str | None = None, vocab: Vocab | None = None) -> np.ndarray:
    """One boolean per value: does it contain a valid ``kind``? (quality rules, masking)"""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector type: {kind}")
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(list(values), type=pa.large_string())
    return find(values, header=header, types=(kind,), vocab=vocab).mask(kind)


def hinted_types(header: str | None, *, vocab: Vocab | None = None) -> frozenset[str]:
    """The detector types a column name suggests (it raises confidence, never decides)."""
    return (vocab or load_vocab()).hinted_types(header)
