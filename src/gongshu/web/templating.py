"""Server-rendered pages: one Jinja2 environment, the request's language and user in every page.

Times are stored in UTC and shown in the display time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

import datetime as dt
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


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


@cache
def templates() -> Jinja2Templates:
    tpl = Jinja2Templates(directory=str(TEMPLATE_DIR))
    env = tpl.env
    env.filters["localtime"] = _localtime
    env.filters["percent"] = _percent
    env.filters["grade_label"] = _grade_label
    env.globals["version"] = __version__
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
