"""Input every route refuses before it reads it: one place, for every route there is and will be.

- **Control characters** (C0 but tab, line feed and carriage return; DEL) in a query or path
  parameter, a form field, or any string or key of a JSON body. Nobody types them, PostgreSQL
  refuses NUL in text (a 500 there, stored as is on SQLite), and they garble exports and logs.
- **Integers beyond 64 bits** in a JSON body, or in a query or path parameter the route reads
  as an integer (an offset, a version, a sequence number). Python takes them, the databases do
  not. Likewise numbers that are not finite (``1e999``): JSON cannot answer them.

Each is answered 422 problem+json with every offending field named (``items.0.name``,
``offset``), the way ``ValidationFailed`` names fields everywhere else.
"""

from __future__ import annotations

import json
import math
import re
import typing
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from gongshu.core.errors import FieldError, ValidationFailed

#: characters nobody types: C0 controls but \t \n \r, and DEL
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INT64 = (-(2**63), 2**63 - 1)
_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
#: field errors reported at most (a body may have thousands of bad cells)
MAX_ERRORS = 50


def _control(field: str) -> FieldError:
    return FieldError(field, "control_character",
                      "Control characters (other than tab and line breaks) are not accepted.")


def _too_large(field: str) -> FieldError:
    return FieldError(field, "number_out_of_range",
                      "The number is beyond the 64-bit range (or not finite).",
                      params={"min": INT64[0], "max": INT64[1]})


def _walk(value: Any, path: str, errors: list[FieldError]) -> None:
    if len(errors) >= MAX_ERRORS:
        return
    if isinstance(value, str):
        if CONTROL.search(value):
            errors.append(_control(path or "body"))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            errors.append(_too_large(path or "body"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append(_too_large(path or "body"))
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if CONTROL.search(str(key)):
                errors.append(_control(sub))
            _walk(item, sub, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}" if path else str(index), errors)


def _int_params(request: Request) -> set[str]:
    """The query and path parameters the matched route reads as integers."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return set()
    return {param.alias or param.name
            for param in (*route.dependant.query_params, *route.dependant.path_params)
            if _is_int(param.field_info.annotation)}


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(_is_int(arg) for arg in typing.get_args(annotation))


async def check(request: Request) -> None:
    """App-wide dependency: refuse control characters and out-of-range numbers (see above)."""
    errors: list[FieldError] = []
    ints = _int_params(request)
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if not isinstance(value, str):
            continue
        if CONTROL.search(value) or CONTROL.search(name):
            errors.append(_control(name))
        elif (name in ints and _INT_TEXT.fullmatch(value)
              and not INT64[0] <= int(value) <= INT64[1]):
            errors.append(_too_large(name))
    content_type = request.headers.get("content-type", "")
    if request.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
        if content_type.startswith("application/json") or content_type.endswith("+json"):
            body = await request.body()
            if body:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None  # FastAPI answers it: 422 json_invalid
                _walk(data, "", errors)
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            for name, value in form.multi_items():
                if isinstance(value, str) and (CONTROL.search(value) or CONTROL.search(name)):
                    errors.append(_control(name))
    if errors:
        raise ValidationFailed("The input is not valid.", errors=errors[:MAX_ERRORS])
