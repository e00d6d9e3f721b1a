"""Settings come from the environment and a TOML file, and every one is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gongshu.core.config import Settings, describe_settings

ROOT = Path(__file__).resolve().parents[2]


def _settings_table() -> set[str]:
    """The variables of the settings table of docs/operations.md (its rows' first cells)."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    table = text[text.index("## Settings"):]
    table = table[:table.index("\n## ", 1)]
    return set(re.findall(r"^\| `(GONGSHU_[A-Z0-9_]+)` \|", table, flags=re.M))


def test_every_setting_is_documented_in_operations_md() -> None:
    rows = _settings_table()
    missing = [env for env, _d, _desc in describe_settings() if env not in rows]
    assert not missing, f"add rows for these to the settings table of docs/operations.md: {missing}"


def test_every_environment_variable_the_code_reads_is_in_the_settings_table() -> None:
    """Also those read outside ``Settings`` (e.g. GONGSHU_CACHE_DIR by the segmenter)."""
    read = set()
    for path in (ROOT / "src" / "gongshu").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"""(?:environ(?:\.get)?\(?\[?|getenv\()\s*["'](GONGSHU_[A-Z0-9_]+)""",
                               text))
    assert "GONGSHU_CACHE_DIR" in read and "GONGSHU_DATA_DIR" in read  # the scan works
    missing = sorted(read - _settings_table())
    assert not missing, f"add rows for these to the settings table of docs/operations.md: {missing}"


def test_every_setting_has_a_description() -> None:
    assert all(desc for _env, _default, desc in describe_settings())


def test_environment_and_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "gongshu.toml").write_text('port = 9001\npage_size = 20\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GONGSHU_PAGE_SIZE", "25")
    settings = Settings()
    assert settings.port == 9001  # from the file
    assert settings.page_size == 25  # the environment wins over the file
    assert settings.effective_database_url == f"sqlite:///{data_dir.resolve() / 'gongshu.db'}"
    assert settings.is_sqlite


def test_keys_are_private(runtime: object) -> None:
    keys = runtime.keys  # type: ignore[attr-defined]
    keys.ensure()
    for path in keys.directory.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
