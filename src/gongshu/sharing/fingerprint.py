"""The fingerprint of a delivered copy (Art. 12: shared data is never passed to a third party).

Pure: no I/O. Every copy a grant delivers carries *canary rows*: extra records made up from a
key that only the platform holds, so that a leaked copy names the grant it came from
(``sharing.trace``). A canary changes no value a duty relies on: the real rows are delivered
unchanged and in their stored order; a canary is a made-up record whose identifiers fail their
own check character (GB 11643 ID numbers with a wrong check character, bank cards failing Luhn),
so it can never be taken for a real person.

- **Key.** ``grant_key = HMAC-SHA256(platform key, "gongshu.fingerprint.v1:" ‖ grant id)``; the
  platform key is the data directory's ``fingerprint`` secret (``core.security.KeyStore``).
- **Values.** Canary ``k`` of a grant has, in each granted column ``c``, a value drawn from
  ``HMAC(grant_key, k ‖ c)`` in the column's *kind*: the personal-data type the grading scan
  found in it (ID number, mobile, name, address …), else a keyed word for other text, else a
  plausible number, date or flag. Values do not depend on the delivery's size or page, so the
  tracer regenerates them from the grant alone. Masked columns carry the canary value masked by
  the same SQL as the real values (``deid.masks``), so canaries look like their neighbours.
- **How many, where.** ``count(T) = max(MIN_CANARIES, ceil(T / ROWS_PER_CANARY))`` canaries for
  a delivery of ``T`` data rows; canary ``k`` goes before data row ``position_k``, one keyed
  position in each of ``count`` equal strata of ``[0, T]`` (a cut to a fraction of the rows
  keeps about that fraction of them; re-sorting keeps all of them).
- **Evidence.** Every kind has a number of bits an outsider cannot guess (``BITS``: clear and
  masked). A row of a suspect file *hits* canary ``k`` of grant ``g`` when its cells equal that
  canary's cells in columns worth at least ``HIT_BITS`` together (any columns, in any order,
  under any header: dropped and reordered columns do not matter while enough remain).
- **Confidence.** For ``m`` distinct canaries of ``g`` hit in a file of ``R`` rows, the chance of
  that many false hits is the Poisson tail ``P(X ≥ m)`` with ``λ = R · K_g · 2^-HIT_BITS``
  (``K_g`` canaries were compared); the confidence is ``1 - P``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import math
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gongshu.core import identifiers as ids

VERSION = b"gongshu.fingerprint.v1:"
MIN_CANARIES = 8
ROWS_PER_CANARY = 200
#: the bits of a row's matching cells needed for a hit (about one chance in a million)
HIT_BITS = 20.0
#: a grant is named when at least this many of its canaries are hit with this confidence
MIN_HITS = 2
MIN_CONFIDENCE = 0.999

#: bits an outsider cannot guess, per kind: (in clear, masked by ``deid.masks``)
BITS: Mapping[str, tuple[float, float]] = {
    "cn_id": (56.0, 32.0),
    "bank_card": (56.0, 19.0),
    "cn_mobile": (33.0, 19.0),
    "cn_landline": (30.0, 19.0),
    "email": (39.0, 7.0),
    "passport": (26.0, 6.0),
    "license_plate": (28.0, 12.0),
    "ip": (24.0, 8.0),
    "geo": (40.0, 13.0),
    "person_name": (15.0, 6.0),
    "address": (24.0, 6.0),
    "text": (47.0, 47.0),
}
#: kinds with a generator of their own, in the order a column's detected types are tried
KINDS: tuple[str, ...] = ("cn_id", "bank_card", "cn_mobile", "cn_landline", "email", "passport",
                          "license_plate", "ip", "geo", "person_name", "address")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞斌宇浩凯健俊帆"
         "晨阳欣怡雪琳晶婷颖慧佳嘉文博志远建国庆海波鑫亮辉龙")
CITIES = ("太原市", "大同市", "阳泉市", "长治市", "晋城市", "朔州市", "晋中市", "运城市", "忻州市",
          "临汾市", "吕梁市")
DISTRICTS = ("城区", "郊区", "新区", "东区", "西区", "南区", "北区", "开发区")
ROADS = ("体育路", "并州路", "迎泽大街", "长风街", "建设北路", "学府街", "解放路", "五一路", "府东街",
         "胜利街", "新建路", "平阳路", "和平街", "滨河路", "青年路", "朝阳街")
DOMAINS = ("163.com", "qq.com", "126.com", "sina.com", "139.com", "foxmail.com", "sohu.com",
           "yeah.net")


def grant_key(platform_key: bytes, grant_id: uuid.UUID) -> bytes:
    return hmac.new(platform_key, VERSION + str(grant_id).encode(), hashlib.sha256).digest()


def _rng(key: bytes, *parts: object) -> random.Random:
    message = "\x1f".join(str(p) for p in parts).encode()
    return random.Random(int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big"))


def count(total_rows: int) -> int:
    """How many canaries a delivery of ``total_rows`` data rows carries."""
    return max(MIN_CANARIES, math.ceil(max(0, total_rows) / ROWS_PER_CANARY))


def _position(key: bytes, total_rows: int, n: int, k: int) -> int:
    u = _rng(key, "pos", total_rows, k).random()
    return min(total_rows, int((k + u) * (total_rows + 1) / n))


def positions(key: bytes, total_rows: int) -> list[int]:
    """Canary ``k`` goes before data row ``positions[k]`` (``total_rows``: after the last)."""
    n = count(total_rows)
    return [_position(key, total_rows, n, k) for k in range(n)]


def positions_between(key: bytes, total_rows: int, low: int, high: int) -> list[tuple[int, int]]:
    """``(position, k)`` of the canaries placed in ``[low, high)``, computing only the strata
    that overlap it (a small page costs a few keyed draws, not one per canary)."""
    n = count(total_rows)
    span = total_rows + 1
    first = max(0, low * n // span - 1)
    last = min(n - 1, -(-high * n // span))
    out = []
    for k in range(first, last + 1):
        p = _position(key, total_rows, n, k)
        if low <= p < high:
            out.append((p, k))
    return out


def kind_for(types: Sequence[str], is_text: bool) -> str:
    """The generator for a column: the first detected type that has one, else by type."""
    for kind in KINDS:
        if kind in types:
            return kind
    return "text" if is_text else "value"


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def _cn_id(r: random.Random) -> str:
    region = r.choice("123456") + _digits(r, 5)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=r.randrange(20000))
    first17 = f"{region}{born:%Y%m%d}{_digits(r, 3)}"
    good = ids.cn_id_check_char(first17)
    return first17 + r.choice([c for c in "0123456789X" if c != good])


def _bank_card(r: random.Random) -> str:
    body = "62" + _digits(r, 16)
    last = r.choice("0123456789")
    while ids.luhn_ok(body + last):
        last = str((int(last) + 1) % 10)
    return body + last


def _name(r: random.Random) -> str:
    return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2))))


def _address(r: random.Random) -> str:
    return (f"山西省{r.choice(CITIES)}{r.choice(DISTRICTS)}{r.choice(ROADS)}"
            f"{r.randrange(1, 1000)}号{r.randrange(1, 30)}栋{r.randrange(101, 2999)}室")


GENERATORS = {
    "cn_id": _cn_id,
    "bank_card": _bank_card,
    "cn_mobile": lambda r: "1" + r.choice("3456789") + _digits(r, 9),
    "cn_landline": lambda r: "03" + _digits(r, 2) + "-" + r.choice("2345678") + _digits(r, 6),
    "email": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    + "@" + r.choice(DOMAINS),
    "passport": lambda r: r.choice("EGDSP") + _digits(r, 8),
    "license_plate": lambda r: "晋" + r.choice("ABCDEFHJKLM")
    + "".join(r.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5)),
    "ip": lambda r: f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
    "geo": lambda r: f"{r.uniform(34.5, 40.7):.6f},{r.uniform(110.2, 114.5):.6f}",
    "person_name": _name,
    "address": _address,
    "text": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10)),
}


@dataclass(frozen=True)
class Column:
    """One delivered column as the fingerprint sees it."""

    code: str
    kind: str  # a key of GENERATORS, or "value" (numbers, dates, flags)
    arrow_type: str  # "string", "int", "float", "decimal:<scale>", "date", "timestamp", "bool"
    masked: bool = False
    fixed: tuple[Any, ...] = ()  # values the grant's row filter allows (= / in): one is used
    #: numeric bounds the grant's row filter sets (< <= > >=), so canaries pass it too
    low: float | None = None
    high: float | None = None

    @property
    def bits(self) -> float:
        if self.kind not in BITS:
            return 0.0
        clear, masked = BITS[self.kind]
        return 0.0 if self.fixed else (masked if self.masked else clear)


def _value(r: random.Random, column: Column) -> Any:
    if column.fixed:
        return r.choice(column.fixed)
    t = column.arrow_type
    if t == "string":
        return GENERATORS.get(column.kind, GENERATORS["text"])(r)
    low = 1000.0 if column.low is None else column.low
    high = max(low * 3, 30_000.0) if column.high is None else column.high
    if column.high is not None and column.low is None:
        low = min(low, high / 3)
    if t == "int":
        return r.randrange(math.ceil(low), max(math.ceil(low) + 1, math.floor(high)))
    if t == "float":
        return round(r.uniform(low, high), 2)
    if t.startswith("decimal:"):
        scale = int(t.split(":", 1)[1])
        cents = r.randrange(math.ceil(low * 100), max(math.ceil(low * 100) + 1,
                                                      math.floor(high * 100)))
        return decimal.Decimal(cents).scaleb(-2).quantize(decimal.Decimal(1).scaleb(-scale))
    if t == "date":
        return dt.date(1950, 1, 1) + dt.timedelta(days=r.randrange(20000))
    if t == "timestamp":
        return dt.datetime(2020, 1, 1) + dt.timedelta(seconds=r.randrange(5 * 365 * 86400))
    if t == "bool":
        return r.random() < 0.5
    return None


def canary_rows(key: bytes, columns: Sequence[Column], ks: Iterable[int]) -> list[dict[str, Any]]:
    """The canary records ``ks`` of a grant, unmasked (masking is the caller's SQL)."""
    return [{c.code: _value(_rng(key, "row", k, c.code), c) for c in columns} for k in ks]


# ------------------------------------------------------------------------------- tracing


def normalise(value: Any) -> str | None:
    """A cell as text, the same whether a copy kept it as text, number or spreadsheet cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    if text.startswith("'") and len(text) > 1 and text[1] in "=+-@\t\r":
        text = text[1:]  # a neutralised CSV formula cell
    return text or None


@dataclass
class Candidate:
    grant_id: str
    hits: int
    compared: int
    score: float


def poisson_tail(m: int, lam: float) -> float:
    """P(X ≥ m) for X ~ Poisson(lam)."""
    if m <= 0:
        return 1.0
    term = math.exp(-lam)
    below = term
    for i in range(1, m):
        term *= lam / i
        below += term
    return max(0.0, 1.0 - below)


class Index:
    """Canary cells of many grants, looked up by value."""

    def __init__(self) -> None:
        self.cells: dict[str, list[tuple[str, int, str, float]]] = {}
        self.compared: dict[str, int] = {}

    def add(self, grant_id: str, k: int, column: str, value: Any, bits: float) -> None:
        text = normalise(value)
        if text is None or bits <= 0:
            return
        self.cells.setdefault(text, []).append((grant_id, k, column, bits))

    def score(self, rows: Iterable[Sequence[Any]]) -> tuple[list[Candidate], int]:
        """Candidates (grants with at least one hit), best first, and the rows read."""
        hits: dict[str, set[int]] = {}
        n_rows = 0
        for row in rows:
            n_rows += 1
            evidence: dict[tuple[str, int], dict[str, float]] = {}
            for value in row:
                text = normalise(value)
                if text is None:
                    continue
                for grant_id, k, column, bits in self.cells.get(text, ()):
                    evidence.setdefault((grant_id, k), {})[column] = bits
            for (grant_id, k), cols in evidence.items():
                if sum(cols.values()) >= HIT_BITS:
                    hits.setdefault(grant_id, set()).add(k)
        out = []
        for grant_id, ks in hits.items():
            compared = self.compared.get(grant_id, len(ks))
            lam = max(n_rows, 1) * compared * 2.0 ** -HIT_BITS
            out.append(Candidate(grant_id, len(ks), compared,
                                 round(1.0 - poisson_tail(len(ks), lam), 12)))
        out.sort(key=lambda c: (-c.hits, -c.score, c.grant_id))
        return out, n_rows


def verdict(candidates: Sequence[Candidate]) -> tuple[str | None, float]:
    """The grant a copy came from (or None) and the confidence."""
    if not candidates:
        return None, 0.0
    best = candidates[0]
    named = (best.hits >= MIN_HITS and best.score >= MIN_CONFIDENCE
             and (len(candidates) == 1 or candidates[1].hits < best.hits))
    return (best.grant_id if named else None), best.score
