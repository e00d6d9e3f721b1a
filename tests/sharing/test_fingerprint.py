"""The fingerprint's pure parts: how many canaries and where, what they look like (never a real
person), how a copy is scored; and the cursor, a parser of untrusted input."""

from __future__ import annotations

import decimal
import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.core import identifiers as ids
from gongshu.core.errors import BadRequest
from gongshu.sharing import delivery
from gongshu.sharing import fingerprint as fp

KEY = b"k" * 32
GRANT = uuid.UUID("01900000-0000-7000-8000-000000000001")
COLUMNS = [fp.Column("GMSFHM", "cn_id", "string"), fp.Column("LXDH", "cn_mobile", "string"),
           fp.Column("XM", "person_name", "string"), fp.Column("CARD", "bank_card", "string"),
           fp.Column("NOTE", "text", "string"), fp.Column("YSR", "value", "decimal:2"),
           fp.Column("CSRQ", "value", "date")]


@pytest.mark.parametrize(("total", "expected"), [(0, 8), (40, 8), (1600, 8), (1601, 9),
                                                 (4000, 20), (1_000_000, 5000)])
def test_count(total: int, expected: int) -> None:
    assert fp.count(total) == expected


@pytest.mark.parametrize("total", [0, 1, 7, 300, 4000, 123_457])
def test_positions_one_per_stratum(total: int) -> None:
    key = fp.grant_key(KEY, GRANT)
    places = fp.positions(key, total)
    n = fp.count(total)
    assert len(places) == n and places == sorted(places)
    assert all(0 <= p <= total for p in places)
    for k, p in enumerate(places):  # canary k lies in the k-th of n equal strata of [0, total]
        assert k * (total + 1) // n <= p <= (k + 1) * (total + 1) / n
    assert places == fp.positions(key, total)  # deterministic
    for low, high in ((0, total + 1), (0, 1), (total // 3, total // 2 + 1), (total, total + 1)):
        assert fp.positions_between(key, total, low, high) == [
            (p, k) for k, p in enumerate(places) if low <= p < high]
    if total > 1000:
        assert places != fp.positions(fp.grant_key(KEY, uuid.uuid4()), total)  # keyed


def test_canaries_are_never_real_people_and_keyed() -> None:
    key = fp.grant_key(KEY, GRANT)
    rows = fp.canary_rows(key, COLUMNS, range(300))
    for row in rows:
        assert len(row["GMSFHM"]) == 18 and row["GMSFHM"][:17].isdigit()
        assert not ids.is_valid_cn_id(row["GMSFHM"])  # wrong check character
        assert not ids.luhn_ok(row["CARD"])
        assert row["LXDH"].isdigit() and len(row["LXDH"]) == 11
        assert 2 <= len(row["XM"]) <= 3
        assert isinstance(row["YSR"], decimal.Decimal)
    assert len({r["GMSFHM"] for r in rows}) == 300
    assert rows == fp.canary_rows(key, COLUMNS, range(300))
    other = fp.canary_rows(fp.grant_key(KEY, uuid.uuid4()), COLUMNS, range(300))
    assert not {r["GMSFHM"] for r in rows} & {r["GMSFHM"] for r in other}


def test_canaries_pass_the_row_filter() -> None:
    columns = [fp.Column("YSR", "value", "decimal:2", low=20_001.0),
               fp.Column("N", "value", "int", high=9.0),
               fp.Column("SFZZ", "value", "bool", fixed=(True,))]
    for row in fp.canary_rows(KEY, columns, range(200)):
        assert row["YSR"] >= 20_001 and row["N"] <= 9 and row["SFZZ"] is True


def test_bits() -> None:
    assert fp.Column("a", "cn_id", "string").bits > fp.Column("a", "cn_id", "string",
                                                                masked=True).bits >= 20
    assert fp.Column("a", "value", "int").bits == 0
    assert fp.Column("a", "text", "string", fixed=("x",)).bits == 0


def test_poisson_tail() -> None:
    assert fp.poisson_tail(0, 3.0) == 1.0
    assert fp.poisson_tail(1, 0.5) == pytest.approx(1 - 2.718281828 ** -0.5)
    assert fp.poisson_tail(5, 1e-3) < 1e-15


def _index(grants: list[uuid.UUID], n: int) -> tuple[fp.Index, dict[uuid.UUID, list[dict]]]:
    index = fp.Index()
    made = {}
    for g in grants:
        rows = fp.canary_rows(fp.grant_key(KEY, g), COLUMNS, range(n))
        made[g] = rows
        index.compared[str(g)] = n
        for k, row in enumerate(rows):
            for c in COLUMNS:
                index.add(str(g), k, c.code, row[c.code], c.bits)
    return index, made


def test_scoring_survives_dropped_columns_and_resorting() -> None:
    grants = [uuid.uuid4() for _ in range(20)]
    index, made = _index(grants, 20)
    rng = random.Random(3)
    noise = [[str(rng.randrange(10**17, 10**18)), f"139{rng.randrange(10**8):08d}", "王伟"]
             for _ in range(2000)]
    leaked = [[r["LXDH"], r["XM"]] for r in made[grants[4]][:6]]  # GMSFHM and others dropped
    rows = [n[1:] for n in noise] + leaked
    rng.shuffle(rows)
    candidates, n_rows = index.score(rows)
    assert n_rows == 2006
    assert candidates[0].grant_id == str(grants[4]) and candidates[0].hits == 6
    assert fp.verdict(candidates) == (str(grants[4]), candidates[0].score)
    assert candidates[0].score > 0.999999
    # one canary is not enough; nothing at all names nobody
    one, _ = index.score([leaked[0]])
    assert fp.verdict(one)[0] is None
    assert fp.verdict(index.score(noise)[0]) == (None, 0.0)


@pytest.mark.parametrize(("value", "text"), [(None, None), ("  x ", "x"), (13812345678.0,
                         "13812345678"), (12, "12"), ("'=1+1", "=1+1"), (True, "true"),
                                             (float("nan"), None), ("", None)])
def test_normalise(value: object, text: str | None) -> None:
    assert fp.normalise(value) == text


def test_cursor_round_trip_and_tampering() -> None:
    cursor = delivery.Cursor(3, 1000, 200)
    text = delivery.encode_cursor(KEY, GRANT, cursor)
    assert delivery.decode_cursor(KEY, GRANT, text) == cursor
    body, tag = text.split(".")
    for bad in (f"{body}.{tag[:-2]}AA", f"{body[:-2]}AA.{tag}", text.replace(".", ""), ""):
        with pytest.raises(BadRequest):
            delivery.decode_cursor(KEY, GRANT, bad)
    with pytest.raises(BadRequest):
        delivery.decode_cursor(KEY, uuid.uuid4(), text)
    with pytest.raises(BadRequest):
        delivery.decode_cursor(b"other" * 8, GRANT, text)


@given(st.text(max_size=200))
def test_cursor_decoder_refuses_anything_unsigned(text: str) -> None:
    with pytest.raises(BadRequest):
        delivery.decode_cursor(KEY, GRANT, text)
