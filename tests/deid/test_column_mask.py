"""``masks.column_mask``: one column's masking SQL as the template ``read_columns`` takes."""

from __future__ import annotations

import duckdb
import pytest

from gongshu.deid import masks


@pytest.mark.parametrize(("types", "value", "shown"), [
    (["cn_id"], "110105198507090028", "110105********0028"),
    (["cn_mobile"], "13812345678", "138****5678"),
    (["person_name", "cn_mobile"], "张三丰", "张**"),
    (["cn_id", "cn_mobile"], "身份证110105198507090028 电话13812345678",
     "身份证110105********0028 电话138****5678"),
])
def test_column_mask_masks_like_previews(types: list[str], value: str, shown: str) -> None:
    template = masks.column_mask(types)
    assert template is not None and "{code}" in template
    sql = template.format(code='"v"')  # the regular expressions' braces survive format()
    con = duckdb.connect()
    assert con.execute(f"SELECT {sql} FROM (SELECT ? AS v)", [value]).fetchone()[0] == shown


def test_no_type_no_mask() -> None:
    assert masks.column_mask([]) is None
    assert masks.column_mask(["not_a_type"]) is None
