"""How the audit log reads to an auditor: details as labelled fields, values formatted, times in
the display time zone. Pure: no database, no files (the translator is passed in)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

Translate = Callable[..., str]

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_time(value: dt.datetime, tz: str) -> str:
    """An instant as the display time zone shows it, on one line."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(ZoneInfo(tz)).strftime(TIME_FORMAT)


def flatten(details: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Nested dicts become paths of keys, and so do lists of dicts (a list of changes: each
    numbered from 1, so each field keeps its own label and a code in it shows as code);
    everything else is a leaf."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in details.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            out.extend(flatten(value, path))
        elif (isinstance(value, list | tuple) and value
              and all(isinstance(item, Mapping) and item for item in value)):
            for number, item in enumerate(value, 1):
                if _is_reason(item):  # a sentence of its own (``field_value``)
                    out.append(((*path, str(number)), item))
                else:
                    out.extend(flatten(item, (*path, str(number))))
        else:
            out.append((path, value))
    return out


def _is_reason(value: Any) -> bool:
    """A grade's reason as the grading module stores it (``kind``, ``params``, ``text``)."""
    return isinstance(value, Mapping) and "kind" in value and "text" in value


def format_value(value: Any, t: Translate, tz: str) -> str:
    """A detail's value as text: lists joined, ISO times in ``tz``, booleans and nothing said."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return t("audit.answer_yes") if value else t("audit.answer_no")
    if isinstance(value, list | tuple):
        return t("audit.list_separator").join(_word(v, t, tz) for v in value)
    if _is_reason(value):
        from gongshu.grading.service import reason_words

        return reason_words(value, t)
    if isinstance(value, Mapping):
        return "; ".join(f"{key_label(str(k), t)}: {field_value(str(k), v, t, tz)}"
                         for k, v in value.items())
    if isinstance(value, dt.datetime):
        return local_time(value, tz)
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return local_time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), tz)
        except ValueError:
            return value
    return str(value)


def _word(value: Any, t: Translate, tz: str) -> str:
    """An item of a list: a code word (a level, a category) labelled, anything else formatted."""
    if isinstance(value, str) and _CODE_WORD.match(value):
        return t(f"audit_value.{value.replace('.', '_')}", default=value)
    return format_value(value, t, tz)


def key_label(key: str, t: Translate) -> str:
    return t(f"audit_detail.{key}", default=key.replace("_", " "))


#: detail keys whose values are fixed phrases or codes, translated under ``audit_reason``
TRANSLATED = frozenset({"reason", "error"})


class CodeText(str):
    """A detail that is code (an operator's SQL): shown as code, exported as text."""

    is_code = True


#: detail keys whose values are code (an SQL query, a column or table name in it), shown as
#: such (and ids: ``…_id`` keys holding a UUID)
CODE_KEYS = frozenset({"sql", "column", "table"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def field_value(key: str, value: Any, t: Translate, tz: str) -> str:
    """A detail's value; a known reason phrase ("wrong password", "token_revoked") in the
    reader's language, code as code, anything else as it was recorded."""
    if isinstance(value, str) and (key in CODE_KEYS or (key.endswith("_id")
                                                        and _UUID.match(value))):
        return CodeText(value)
    if key in TRANSLATED and isinstance(value, str) and value:
        word = value.replace('.', '_')
        return t(f"audit_reason.{word}", default=t(f"audit_value.{word}", default=value))
    if isinstance(value, str) and _CODE_WORD.match(value):
        if key == "kind":  # a job's kind, or another kind (a library's: base, sector, topic)
            return t(f"job_kind.{value}",
                     default=t(f"audit_value.{value.replace('.', '_')}", default=value))
        if key in LEVEL_KEYS:
            return t(f"audit_level.{value}", default=_level(value, t))
        return t(f"audit_value.{value.replace('.', '_')}", default=value)
    return format_value(value, t, tz)


#: detail keys whose values are grades (level ids of the grading scheme)
LEVEL_KEYS = frozenset({"level", "grade", "proposed", "proposed_grade", "old_grade", "new_grade"})
_CODE_WORD = re.compile(r"^[a-z][a-z0-9]*(?:[_.-][a-z0-9]+)*$")


def _level(value: str, t: Translate) -> str:
    from gongshu.grading.service import level_label

    return level_label(value, getattr(t, "locale", "zh-CN"))


def detail_fields(details: Mapping[str, Any], t: Translate, tz: str) -> list[tuple[str, str]]:
    """(label, value) for every field of an event's details, in the reader's language."""
    return [(" · ".join(key_label(k, t) for k in path), field_value(path[-1], value, t, tz))
            for path, value in flatten(details)]


def details_text(details: Mapping[str, Any], t: Translate, tz: str) -> str:
    """The details on one line (exports): "label: value; label: value"."""
    return "; ".join(f"{label}: {value}" for label, value in detail_fields(details, t, tz))
