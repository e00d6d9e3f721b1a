"""Helpers for server-rendered forms."""

from __future__ import annotations

from fastapi import Request

from gongshu.core.errors import ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.web.deps import locale_of


def error_map(request: Request, exc: ValidationFailed) -> dict[str, str]:
    """Field → message in the reader's language, for showing errors beside each field."""
    t = Translator(locale_of(request))
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.field, t(f"errors.{e.code}", default=e.message, **dict(e.params)))
    if not out:
        out["_"] = t(f"errors.{exc.code}", default=exc.detail)
    return out
