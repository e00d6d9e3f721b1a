"""Synthetic test data for the library and grading: entries with data items, a population
register with valid ID numbers, and files of it in every format. Never real data."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from gongshu.core import identifiers as ids
from gongshu.core.permissions import Actor

SYSTEM = Actor.system("test", via="system")

ITEMS = [
    {"name": "姓名", "code": "XM", "data_type": "C", "length": 50},
    {"name": "公民身份号码", "code": "GMSFHM", "data_type": "C", "length": 18},
    {"name": "联系电话", "code": "LXDH", "data_type": "C", "length": 20},
    {"name": "住址", "code": "ZZ", "data_type": "C", "length": 200},
    {"name": "月收入", "code": "YSR", "data_type": "Y"},
    {"name": "出生日期", "code": "CSRQ", "data_type": "D"},
    {"name": "是否在职", "code": "SFZZ", "data_type": "L"},
]
HEADER = [i["name"] for i in ITEMS]

ENTRY: dict[str, Any] = {
    "category": {"resource_kind": "base", "subject": "01", "group": "001"},
    "name": "人口基本信息（测试）",
    "provider": {"name": "山西省人力资源和社会保障厅", "code": "SXRST"},
    "summary": "测试用的合成人口登记数据。",
    "format": {"format_class": "spreadsheet", "format_type": "xlsx"},
    "items": ITEMS,
    "sharing": {"type": "conditional", "condition": "仅向有关部门提供",
                "legal_basis": "《个人信息保护法》第十三条",
                "method_class": "platform", "method_type": "interface"},
    "opening": {"type": "not_open"},
    "update_cycle": "monthly",
    "secrecy": "unclassified",
    "data_kind": "public",
    "keywords": ["人口"],
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
ROADS = ["体育路", "并州路", "迎泽大街", "长风街", "建设北路", "学府街"]


def cn_id(region: str, born: dt.date, seq: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + ids.cn_id_check_char(first17)


def register_rows(n: int, seed: int = 1) -> list[list[str]]:
    """A synthetic population register (valid ID numbers, phones, names, addresses)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
        rows.append([
            rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if i % 2 else ""),
            cn_id("140105", born, rng.randrange(1000)),
            f"13{rng.randrange(10)}{rng.randrange(10**8):08d}",
            f"山西省太原市小店区{rng.choice(ROADS)}{rng.randrange(1, 300)}号",
            f"{rng.randrange(1000, 30000)}.{rng.randrange(100):02d}",
            born.isoformat(),
            rng.choice(["是", "否"]),
        ])
    return rows


def write_file(path: Path, rows: list[list[str]], *, header: list[str] = HEADER,
               encoding: str = "utf-8", title: str | None = None) -> Path:
    """Write ``rows`` in the format the suffix names (csv, xlsx, json, jsonl, parquet, db)."""
    suffix = path.suffix
    if suffix == ".csv":
        lines = ([title] if title else []) + [",".join(header)]
        lines += [",".join(f'"{c}"' if "," in c else c for c in r) for r in rows]
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    elif suffix == ".xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        if title:
            ws.append([title])
            ws.append([])
        ws.append(header)
        for r in rows:
            ws.append(r)
        wb.save(path)
    elif suffix == ".json":
        path.write_text(json.dumps([dict(zip(header, r, strict=True)) for r in rows],
                                   ensure_ascii=False), encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(dict(zip(header, r, strict=True)),
                                             ensure_ascii=False) for r in rows) + "\n",
                        encoding="utf-8")
    elif suffix == ".parquet":
        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), path)
    elif suffix == ".db":
        con = sqlite3.connect(path)
        con.execute(f"CREATE TABLE people ({', '.join(f'{h!r} TEXT' for h in header)})")
        con.executemany(f"INSERT INTO people VALUES ({', '.join('?' * len(header))})", rows)
        con.commit()
        con.close()
    else:  # pragma: no cover
        raise ValueError(suffix)
    return path




def uploaded_files(runtime: Any, suffix: str = ".csv") -> list[str]:
    """Keys of the files waiting in the upload area (the data directory or the object store)."""
    from gongshu.library import service

    area = service.upload_area(runtime.settings)
    return [i.path for i in area.listing(recursive=True) if i.is_file and i.path.endswith(suffix)]
