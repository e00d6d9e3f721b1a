"""Synthetic data for the demo, the browser tests and the benchmarks. NEVER real data.

:func:`table_for` fills any list of data items (by name, code and type) with plausible values,
vectorised with numpy so a hundred thousand rows take a fraction of a second:

- citizen ID numbers with a current Shanxi county code (``orgs.regions``), a birth date and
  the GB 11643 check character; birth dates and sexes agree with them;
- names from common surnames and given-name characters, mobile numbers with assigned
  prefixes, addresses built from the province's real cities and counties and invented streets;
- unified social credit codes with the GB 32100 and GB 11714 check characters;
- amounts, dates, coordinates inside the province, codes of the item's length.

``defects`` sprinkles the mistakes real registers have (a wrong check character, a missing
name, a record entered twice), so quality rules have something to find; a table drawn from a
register (``ids_from``) has a few people the register lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from gongshu.core import identifiers as ids

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
                "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉鹏飞玉兰志红梅晓东海波"
             "宇浩然子涵欣怡思雨嘉欣梓轩一诺俊杰晨阳")
ROADS = ["体育路", "并州路", "迎泽大街", "长风街", "建设北路", "学府街", "平阳路", "解放路",
         "五一路", "府西街", "新建路", "南内环街", "滨河东路", "和平南路", "龙城大街", "晋祠路"]
MOBILE_PREFIXES = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                   "159", "182", "187", "188", "130", "131", "132", "155", "156", "185", "186",
                   "133", "153", "177", "180", "181", "189", "199", "191"]
COMPANY_WORDS = ["晋", "汾河", "太行", "吕梁", "五台", "恒山", "黄河", "龙城", "并州", "三晋"]
COMPANY_KINDS = ["科技", "商贸", "建设", "能源", "物流", "农业", "文化", "医药", "信息", "餐饮"]
MEMO = ["按规定办理完毕", "材料齐全，予以受理", "已电话回访", "转有关部门处理", "当事人已签收",
        "现场核查属实", "待补充材料"]


@cache
def counties() -> tuple[tuple[str, str], ...]:
    """(code, "山西省 + city + county") for every current county of Shanxi."""
    from gongshu.orgs.regions import Level, regions

    all_regions = regions("140000")
    cities = {r.code: r.name for r in all_regions if r.level == Level.CITY}
    return tuple((r.code, f"山西省{cities.get(r.parent_code or '', '')}{r.name}")
                 for r in all_regions if r.level == Level.COUNTY)


def _choice(rng: np.random.Generator, options: Sequence[str], n: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(0, len(options), n)]


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width, n).astype(str), width)


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0], dtype=object)
    for part in parts[1:]:
        out = out + np.asarray(part, dtype=object)
    return out


def cn_ids(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ID numbers, birth dates, county index) with valid GB 11643 check characters."""
    which = rng.integers(0, len(counties()), n)
    codes = np.array([c for c, _ in counties()], dtype=object)[which]
    born = np.datetime64("1940-01-01") + rng.integers(0, 365 * 80, n).astype("timedelta64[D]")
    ymd = np.char.replace(born.astype(str), "-", "").astype(object)
    first17 = _cat(codes, ymd, _digits(rng, n, 3)).astype("U17")
    matrix = np.frombuffer("".join(first17).encode(), dtype=np.uint8).reshape(n, 17) - 48
    check = np.array(list(ids.CN_ID_CHECK))[(matrix @ np.array(ids.CN_ID_WEIGHTS)) % 11]
    return _cat(first17.astype(object), check.astype(object)), born, which


def names(rng: np.random.Generator, n: int) -> np.ndarray:
    two = rng.random(n) < 0.6
    return np.where(two, _cat(_choice(rng, SURNAMES, n), _choice(rng, GIVEN, n),
                              _choice(rng, GIVEN, n)),
                    _cat(_choice(rng, SURNAMES, n), _choice(rng, GIVEN, n)))


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    return _cat(_choice(rng, MOBILE_PREFIXES, n), _digits(rng, n, 8))


def addresses(rng: np.random.Generator, n: int, county: np.ndarray | None = None) -> np.ndarray:
    places = np.array([p for _, p in counties()], dtype=object)
    where = county if county is not None else rng.integers(0, len(places), n)
    return _cat(places[where], _choice(rng, ROADS, n),
                rng.integers(1, 400, n).astype(str).astype(object), "号")


def usccs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unified social credit codes (enterprises, 91 + a county code), checks computed."""
    out = []
    regions = [c for c, _ in counties()]
    alphabet = ids.USCC_ALPHABET
    for i in range(n):
        body8 = "".join(alphabet[int(k)] for k in rng.integers(0, 31, 8))
        out.append(ids.make_uscc("91", regions[i % len(regions)],
                                 body8 + ids.org_code_check_char(body8)))
    return np.array(out, dtype=object)


def dates(rng: np.random.Generator, n: int, start: str = "2015-01-01",
          days: int = 3650) -> np.ndarray:
    return np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")


def _fill(item: Mapping[str, Any], rng: np.random.Generator, n: int,
          ctx: dict[str, Any]) -> pa.Array:
    name = str(item.get("name", ""))
    code = str(item.get("code", "")).upper()
    kind = str(item.get("data_type") or "C").upper()
    length = item.get("length")

    def has(*words: str) -> bool:
        return any(w in name for w in words)

    if has("身份号码", "身份证") or code in ("GMSFHM", "SFZH"):
        return pa.array(ctx["id"], pa.string())
    if has("出生日期") and "born" in ctx:
        return pa.array(ctx["born"].astype("datetime64[D]").astype(str), pa.string())
    if has("性别"):
        if "sex" in ctx:
            return pa.array(ctx["sex"], pa.string())
        return pa.array(_choice(rng, ["1", "2"], n), pa.string())
    if has("民族"):
        return pa.array(np.where(rng.random(n) < 0.95, "01",
                                 np.char.zfill(rng.integers(2, 57, n).astype(str), 2)),
                        pa.string())
    if has("姓名", "法定代表人", "联系人", "权利人", "负责人", "经办人"):
        return pa.array(ctx["name"], pa.string())
    if has("电话", "手机"):
        return pa.array(mobiles(rng, n), pa.string())
    if has("地址", "住址", "住所"):
        return pa.array(addresses(rng, n, ctx.get("county")), pa.string())
    if has("统一社会信用代码", "信用代码"):
        return pa.array(usccs(rng, n), pa.string())
    if has("所在区县"):  # the county of the person's ID number, without the province
        places = np.array([p[3:] for _, p in counties()], dtype=object)
        return pa.array(places[ctx["county"]], pa.string())
    if has("年收入"):  # skewed, some without income, capped at 500,000 yuan
        income = np.minimum(np.round(rng.lognormal(np.log(42_000), 0.7, n), -2), 500_000)
        income[rng.random(n) < 0.04] = 0
        return pa.array(income.astype(int).astype(str), pa.string())
    if has("行政区划"):
        return pa.array(_choice(rng, [c for c, _ in counties()], n), pa.string())
    if has("单位名称", "机构名称", "学校名称"):
        suffix = "学校" if has("学校") else "有限公司"
        prefix = ["山西"] + sorted({p[3:6] for _, p in counties()})
        return pa.array(_cat(_choice(rng, prefix, n), _choice(rng, COMPANY_WORDS, n),
                             _choice(rng, COMPANY_KINDS, n), suffix), pa.string())
    if has("号牌"):
        letters = list("ABCDEFGHJKLM")
        return pa.array(_cat("晋", _choice(rng, letters, n), _choice(rng, letters, n),
                             _digits(rng, n, 4)), pa.string())
    if has("经度"):
        return pa.array(np.round(rng.uniform(110.25, 114.55, n), 6).astype(str), pa.string())
    if has("纬度"):
        return pa.array(np.round(rng.uniform(34.6, 40.7, n), 6).astype(str), pa.string())
    if kind in ("Y",):
        base = 8000 if has("基数", "工资", "收入") else 3000
        return pa.array(np.char.mod("%.2f", np.round(rng.lognormal(np.log(base), 0.5, n), 2)),
                        pa.string())
    if kind in ("N", "B", "F"):
        if has("年度"):
            return pa.array(rng.integers(2015, 2025, n).astype(str), pa.string())
        return pa.array(np.round(rng.lognormal(3, 1, n), 2).astype(str), pa.string())
    if kind == "I":
        upper = 240 if has("月数") else (6 if has("人口数") else 1000)
        return pa.array(rng.integers(1, upper, n).astype(str), pa.string())
    if kind == "D":
        return pa.array(dates(rng, n).astype(str), pa.string())
    if kind == "T":
        stamps = dates(rng, n).astype("datetime64[s]") + rng.integers(0, 86400, n).astype(
            "timedelta64[s]")
        return pa.array(np.char.replace(stamps.astype(str), "T", " "), pa.string())
    if kind == "L":
        return pa.array(_choice(rng, ["是", "否"], n), pa.string())
    if kind == "M":  # free text; some of it names a person and a phone number, as notes do
        memo = _choice(rng, MEMO, n)
        noted = rng.random(n) < 0.2
        memo[noted] = _cat("联系人：", ctx["name"][noted], "，电话", mobiles(rng, int(noted.sum())),
                           "，", memo[noted])
        return pa.array(memo, pa.string())
    width = int(length) if length else 6
    if has("编号", "证号", "号码") or width >= 8:
        return pa.array(_cat("SX", _digits(rng, n, min(max(width - 2, 4), 12))), pa.string())
    return pa.array(np.char.zfill(rng.integers(1, min(10 ** min(width, 3), 100), n).astype(str),
                                  min(width, 3)).astype(str), pa.string())


def table_for(items: Sequence[Any], rows: int, *, seed: int = 1, header: str = "name",
              defects: float = 0.0, ids_from: Sequence[str] | None = None) -> pa.Table:
    """A table of ``rows`` synthetic rows for these data items (objects or mappings with name,
    code, data_type, length), all columns as text, named by each item's ``header`` attribute.

    ``ids_from``: draw the ID numbers from these (a register of the same people); ``defects``:
    the share of rows given a typical mistake (a wrong check character, a missing name)."""
    rng = np.random.default_rng(seed)
    specs = [i if isinstance(i, Mapping) else {k: getattr(i, k, None) for k in
                                               ("name", "code", "data_type", "length")}
             for i in items]
    ctx: dict[str, Any] = {}
    cn, born, county = cn_ids(rng, rows)
    if ids_from is not None and len(ids_from):
        # the same people as the register, but for a few nobody registered there
        known = rng.random(rows) >= 0.01
        cn = np.where(known, np.array(ids_from, dtype=object)[
            rng.integers(0, len(ids_from), rows)], cn)
        born = np.array([f"{v[6:10]}-{v[10:12]}-{v[12:14]}" for v in cn], dtype="datetime64[D]")
    ctx.update(id=cn, born=born, county=county, name=names(rng, rows))
    ctx["sex"] = np.where(np.array([int(v[16]) % 2 for v in cn]) == 1, "1", "2")
    columns = {}
    for spec in specs:
        columns[str(spec[header])] = _fill(spec, rng, rows, ctx)
    table = pa.table(columns)
    if defects > 0 and rows:
        table = _with_defects(table, specs, rng, defects, header)
    return table


def _with_defects(table: pa.Table, specs: Sequence[Mapping[str, Any]],
                  rng: np.random.Generator, share: float, header: str) -> pa.Table:
    n = table.num_rows
    for spec in specs:
        column = str(spec[header])
        name = str(spec.get("name", ""))
        values = table.column(column).to_numpy(zero_copy_only=False).astype(object)
        hit = rng.random(n) < share
        if "身份" in name:
            # a wrong check character, and a record entered twice
            values[hit] = [v[:17] + ("0" if v[17] != "0" else "1") for v in values[hit]]
            twice = np.flatnonzero(rng.random(n) < share / 4)
            twice = twice[twice > 0]
            values[twice] = values[twice - 1]
        elif "姓名" in name:
            values[hit] = None
        else:
            continue
        table = table.set_column(table.schema.get_field_index(column), column,
                                 pa.array(values, pa.string()))
    return table
