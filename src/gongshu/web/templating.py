"""Server-rendered pages: one Jinja2 environment, the request's language and user in every page.

Times are stored in UTC and shown in the display time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.responses import Response

from gongshu import __version__
from gongshu.core.i18n import Translator
from gongshu.web.deps import locale_of
from gongshu.web.nav import nav_items

TEMPLATE_DIR = resources.files("gongshu.web") / "templates"
STATIC_DIR = resources.files("gongshu.web") / "static"


@pass_context
def _localtime(ctx: Any, value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC inside, the display time zone on screen."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(ZoneInfo(ctx.get("tz") or "Asia/Shanghai")).strftime(fmt)


@pass_context
def _grade_label(ctx: Any, value: str | None) -> str:
    """A grade's label in the reader's language, from the grading schemes (data, Art. 10)."""
    from gongshu.grading.service import level_label

    return level_label(value, ctx.get("locale", "zh-CN"))


@pass_context
def _actor_label(ctx: Any, name: str | None) -> str:
    """Who acted, as a reader says it: a user's login name as it is; the platform's own actors
    (``scheduler``, ``demo``, ``cli:<user>``, the demo's staff ``ds.<body code>`` …) by the
    label of ``actor.<name>`` or ``actor_prefix.<prefix>`` in the locales."""
    if not name:
        return ""
    t: Translator = ctx["t"]
    if t.has(f"actor.{name}"):
        return t(f"actor.{name}")
    for sep in (":", "."):
        prefix, found, rest = name.partition(sep)
        if found and t.has(f"actor_prefix.{prefix}"):
            return t(f"actor_prefix.{prefix}", rest=rest)
    return name


def _bytes(value: int | None) -> str:
    """A size as people read it (KB, MB, GB; 1,024 steps)."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


@pass_context
def _vocab_label(ctx: Any, list_name: str, code: str | None) -> str:
    """A code of a catalog value list (update cycles …) by its label in the reader's language."""
    from gongshu.catalog.vocab import vocab

    if not code:
        return ""
    return vocab().get(list_name).label(code, ctx.get("locale", "zh-CN"))


@pass_context
def _rule_label(ctx: Any, rule_id: str | None) -> str:
    from gongshu.grading.service import rule_label

    return rule_label(rule_id, ctx.get("locale", "zh-CN"))


@pass_context
def _scheme_label(ctx: Any, scheme_id: str | None) -> str:
    from gongshu.grading.service import scheme_label

    return scheme_label(scheme_id, ctx.get("locale", "zh-CN"))


@pass_context
def _grading_reason(ctx: Any, reason: Any) -> str:
    from gongshu.grading.service import reason_words

    return reason_words(reason, ctx["t"])


@pass_context
def _pack_label(ctx: Any, pack_id: str | None) -> str:
    from gongshu.grading.service import pack_label

    return pack_label(pack_id, ctx.get("locale", "zh-CN"))


_BILINGUAL = re.compile(r"^(?P<zh>.*?)\s*\((?P<en>[\x20-\x7e]+)\)\s*$", re.S)


@pass_context
def _reader_language(ctx: Any, text: str | None) -> str:
    """A data file's text written "中文 (English)": the part in the reader's language."""
    if not text:
        return ""
    found = _BILINGUAL.match(text)
    if not found or not found["zh"]:
        return text
    return found["en"] if ctx.get("locale") == "en" else found["zh"]


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


@cache
def templates() -> Jinja2Templates:
    tpl = Jinja2Templates(directory=str(TEMPLATE_DIR))
    env = tpl.env
    env.filters["localtime"] = _localtime
    env.filters["percent"] = _percent
    env.filters["grade_label"] = _grade_label
    env.filters["actor_label"] = _actor_label
    env.filters["filesize"] = _bytes
    env.globals["app_version"] = __version__
    env.globals["vocab_label"] = _vocab_label
    #: keys of a job's result shown as labelled fields (``job_result.<key>``); the rest stays
    #: in the raw result under its summary
    env.globals["result_labels"] = ("rows", "rules", "score", "removed", "events_checked",
                                    "expired", "proposed_grade", "version", "entries")
    env.globals["scheme_label"] = _scheme_label
    env.filters["rule_label"] = _rule_label
    env.filters["scheme_label"] = _scheme_label
    env.filters["pack_label"] = _pack_label
    env.globals["grading_reason"] = _grading_reason
    env.filters["reader_language"] = _reader_language
    env.globals["nav_items"] = nav_items()
    env.trim_blocks = True
    env.lstrip_blocks = True
    return tpl


def _flash(request: Request, locale: str) -> str | None:
    """A one-off message after a redirect (``?flash=key``); only known keys are shown."""
    key = request.query_params.get("flash")
    return key if key and Translator(locale).has(f"flash.{key}") else None


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    locale = locale_of(request)
    runtime = request.app.state.runtime
    ctx = {
        "t": Translator(locale),
        "locale": locale,
        "actor": getattr(request.state, "actor", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "tz": runtime.settings.display_timezone,
        "settings": runtime.settings,
        "path": request.url.path,
        "flash": _flash(request, locale),
    }
    ctx.update(context or {})
    return templates().TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
