"""Resource codes (信息资源代码), written ``前段码/后段码``, e.g. ``112461465423/798456``.

What the compilation guide fixes (2017 guide, STANDARDS.md §1 [V]):

- the front segment is the classification code: 类 (1 digit) + 项 (2 digits) + 目 (3 digits)
  + 细目 (variable length);
- the back segment is a sequence number (顺序码) of variable length;
- the two are written with a slash between them.

What we chose, where the guide leaves room (change it here, nowhere else):

- 细目 has at most 6 digits, as in the guide's example; it may be absent (the code then has the
  six digits 类+项+目 only). All parts are decimal digits.
- The sequence number is a positive integer written with at least 6 digits, zero-padded, so
  codes line up in lists; it grows past 6 digits when needed, up to 12. :func:`parse_code`
  also accepts unpadded numbers and :func:`normalize_code` pads them.
- The database layer allocates the next sequence number per front segment (one counter per
  classification), so front + sequence is unique in the province. This module never counts.
- A code is given once and kept across versions, even if a later version changes the
  classification: the code identifies a resource, it does not re-classify it.
- A full-width slash (／) or spaces around the slash, as people type them, are accepted on
  input and written back as ``/``.

The older GB/T 21063.5 identifier put a 5-character provider code in the front segment; the
2017 guide replaced it with the classification code, which is what we follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from gongshu.catalog.vocab import vocab

SUBJECT_WIDTH = 2
GROUP_WIDTH = 3
SUBGROUP_MAX_WIDTH = 6
SEQ_MIN_WIDTH = 6
SEQ_MAX_WIDTH = 12
SEQ_MAX = 10**SEQ_MAX_WIDTH - 1

# ASCII digits only: \d would also accept other scripts' digits.
_FRONT = re.compile(
    rf"^([0-9])([0-9]{{{SUBJECT_WIDTH}}})([0-9]{{{GROUP_WIDTH}}})([0-9]{{0,{SUBGROUP_MAX_WIDTH}}})$"
)
_CODE = re.compile(rf"^([0-9]{{6,{6 + SUBGROUP_MAX_WIDTH}}}) *[/／] *([0-9]{{1,{SEQ_MAX_WIDTH}}})$")
_SUBJECT = re.compile(rf"^[0-9]{{{SUBJECT_WIDTH}}}$")
_GROUP = re.compile(rf"^[0-9]{{{GROUP_WIDTH}}}$")
_SUBGROUP = re.compile(rf"^[0-9]{{0,{SUBGROUP_MAX_WIDTH}}}$")


class InvalidResourceCode(ValueError):
    """A resource code, or a part of one, does not have the shape the guide and we fixed."""


@dataclass(frozen=True, slots=True)
class ResourceCode:
    """A parsed resource code. ``str()`` gives the canonical written form."""

    class_code: str
    subject: str
    group: str
    subgroup: str
    seq: int

    @property
    def front(self) -> str:
        return f"{self.class_code}{self.subject}{self.group}{self.subgroup}"

    @property
    def resource_kind(self) -> str:
        """The resource kind (``base``, ``theme``, ``department``) the 类 digit stands for."""
        return _kind_by_class()[self.class_code]

    def __str__(self) -> str:
        return format_code(self.front, self.seq)


@cache
def _kind_by_class() -> dict[str, str]:
    return {t.guide_code: t.code for t in vocab().resource_kinds if t.guide_code}


def _class_digit(resource_kind: str) -> str:
    """Accept the kind's code (``base``) or its 类 digit (``1``); return the digit."""
    kinds = _kind_by_class()
    if resource_kind in kinds:
        return resource_kind
    term = vocab().resource_kinds.get(resource_kind)
    if term is None or term.guide_code is None:
        raise InvalidResourceCode(f"unknown resource kind (类) {resource_kind!r}")
    return term.guide_code


def front_segment(resource_kind: str, subject: str, group: str, subgroup: str | None = None) -> str:
    """The front segment 类+项+目(+细目) of a classification.

    ``resource_kind`` is the kind's code (``base``) or its 类 digit (``1``). Widths are checked
    here; whether the 项 belongs to the kind is a catalog rule (``rules.py``), not a code shape.
    """
    class_digit = _class_digit(resource_kind)
    subgroup = subgroup or ""
    if not (
        _SUBJECT.fullmatch(subject) and _GROUP.fullmatch(group) and _SUBGROUP.fullmatch(subgroup)
    ):
        raise InvalidResourceCode(
            f"项 must be {SUBJECT_WIDTH} digits, 目 {GROUP_WIDTH} digits and 细目 at most "
            f"{SUBGROUP_MAX_WIDTH} digits; got 项={subject!r} 目={group!r} 细目={subgroup!r}"
        )
    return class_digit + subject + group + subgroup


def split_front(front: str) -> tuple[str, str, str, str]:
    """Split a front segment into (类, 项, 目, 细目); 细目 is ``""`` when absent."""
    parts = _FRONT.fullmatch(front)
    if not parts:
        raise InvalidResourceCode(f"not a front segment (类1+项2+目3+细目0-6 digits): {front!r}")
    class_code, subject, group, subgroup = parts.groups()
    if class_code not in _kind_by_class():
        raise InvalidResourceCode(f"unknown 类 {class_code!r} in {front!r}")
    return class_code, subject, group, subgroup


def format_code(front: str, seq: int) -> str:
    """Write a resource code from a front segment and the sequence number the database gave."""
    split_front(front)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= SEQ_MAX:
        raise InvalidResourceCode(f"sequence number must be an integer in 1..{SEQ_MAX}: {seq!r}")
    return f"{front}/{seq:0{SEQ_MIN_WIDTH}d}"


def parse_code(code: str) -> ResourceCode:
    """Parse a written resource code; raise :class:`InvalidResourceCode` if it is not one."""
    match = _CODE.fullmatch(code.strip()) if isinstance(code, str) else None
    if not match:
        raise InvalidResourceCode(f"not a resource code (前段码/后段码): {code!r}")
    front, seq_text = match.groups()
    class_code, subject, group, subgroup = split_front(front)
    seq = int(seq_text)
    if seq < 1:
        raise InvalidResourceCode(f"sequence number must be positive: {code!r}")
    return ResourceCode(class_code, subject, group, subgroup, seq)


def normalize_code(code: str) -> str:
    """The canonical form of a code as people type it (full-width slash, unpadded number)."""
    return str(parse_code(code))


def is_resource_code(code: str) -> bool:
    try:
        parse_code(code)
    except InvalidResourceCode:
        return False
    return True


__all__ = [
    "GROUP_WIDTH",
    "SEQ_MAX",
    "SEQ_MIN_WIDTH",
    "SUBGROUP_MAX_WIDTH",
    "SUBJECT_WIDTH",
    "InvalidResourceCode",
    "ResourceCode",
    "format_code",
    "front_segment",
    "is_resource_code",
    "normalize_code",
    "parse_code",
    "split_front",
]
