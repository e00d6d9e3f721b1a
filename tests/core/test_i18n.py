"""Messages exist in both languages; locale negotiation picks the right one."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from gongshu.core.i18n import LOCALES, Translator, catalog, negotiate
from gongshu.core.permissions import Role


def test_every_key_exists_in_every_locale() -> None:
    keys = {loc: set(catalog(loc)) for loc in LOCALES}
    reference = keys["zh-CN"]
    for loc, found in keys.items():
        assert found == reference, f"{loc}: missing {sorted(reference - found)[:10]}, extra {sorted(found - reference)[:10]}"


def test_placeholders_match_between_locales() -> None:
    field = re.compile(r"\{(\w+)\}")
    zh, en = catalog("zh-CN"), catalog("en")
    for key, text in zh.items():
        assert set(field.findall(text)) == set(field.findall(en[key])), key


def test_every_role_has_a_label() -> None:
    for loc in LOCALES:
        t = Translator(loc)
        for role in Role:
            assert t.has(f"role.{role.value}"), (loc, role)


def test_templates_only_use_known_keys() -> None:
    """Literal t("…") keys in templates exist (dynamic keys like "role." ~ x are checked above)."""
    keys = set(catalog("zh-CN"))
    pattern = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']\s*[,)]""")
    folder = resources.files("gongshu.web") / "templates"
    missing = []

    def walk(node):  # type: ignore[no-untyped-def]
        for entry in node.iterdir():
            if entry.is_dir():
                walk(entry)
            elif entry.name.endswith(".html"):
                for key in pattern.findall(entry.read_text(encoding="utf-8")):
                    if key not in keys:
                        missing.append(f"{entry.name}: {key}")

    walk(folder)
    assert not missing, missing


@pytest.mark.parametrize(
    ("explicit", "accept", "default", "expected"),
    [
        ((None, None), None, "zh-CN", "zh-CN"),
        (("en", None), None, "zh-CN", "en"),
        ((None, "zh_cn"), None, "en", "zh-CN"),
        ((None, None), "en-US,en;q=0.9", "zh-CN", "en"),
        ((None, None), "fr-FR, en;q=0.5, zh;q=0.8", "en", "zh-CN"),
        ((None, None), "fr-FR", "zh-CN", "zh-CN"),
        (("klingon", None), "en", "zh-CN", "en"),
    ],
)
def test_negotiate(explicit: tuple[str | None, ...], accept: str | None, default: str, expected: str) -> None:
    assert negotiate(*explicit, accept_language=accept, default=default) == expected


def test_missing_key_falls_back_visibly() -> None:
    t = Translator("zh-CN")
    assert t("no.such.key") == "no.such.key"
    assert t("no.such.key", default="fallback {n}", n=3) == "fallback 3"
    assert t("errors.too_short", min_length=12) == "密码至少需要 12 个字符。"
