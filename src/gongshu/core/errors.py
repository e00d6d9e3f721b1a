"""One hierarchy of errors for the whole platform.

Every error a person or a machine can cause carries a stable ``code`` (the API's problem+json
``code`` field, the CLI's message key) and an HTTP status. The human message is looked up in the
i18n catalogs under ``errors.<code>`` and formatted with ``params``; ``detail`` is the English
fallback used where no catalog entry exists.

Services raise these; the web layer turns them into RFC 9457 problem+json, the CLI prints the
message and exits non-zero. A service that raises leaves its transaction rolled back, so bad
input never leaves partial state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field (or cell).

    ``field`` is a dotted path (``items.2.name``) for API input, a column header for imports.
    ``row`` is set for tabular imports (the row number a spreadsheet shows, header = 1).
    """

    field: str
    code: str
    message: str
    row: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "code": self.code, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


class GongshuError(Exception):
    """Base of every expected error. Subclasses fix ``status`` and a default ``code``."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.params = params

    def extra(self) -> dict[str, Any]:
        """Additional members for the problem document."""
        return {}


class BadRequest(GongshuError):
    status = 400
    default_code = "bad_request"


class Unauthenticated(GongshuError):
    status = 401
    default_code = "unauthenticated"


class PermissionDenied(GongshuError):
    status = 403
    default_code = "permission_denied"


class NotFound(GongshuError):
    status = 404
    default_code = "not_found"


class Conflict(GongshuError):
    """The request clashes with current state (duplicate name, wrong workflow state …)."""

    status = 409
    default_code = "conflict"


class InvalidState(Conflict):
    default_code = "invalid_state"


class TooManyRequests(GongshuError):
    status = 429
    default_code = "too_many_requests"


class Unavailable(GongshuError):
    """The platform is too busy to answer now (every web thread, database connection or the
    database lock stayed taken for the whole wait); the client retries after ``retry_after``
    seconds. Never a hang, never a 500."""

    status = 503
    default_code = "overloaded"

    def __init__(self, detail: str = "The platform is busy; try again shortly.", *,
                 retry_after: int = 1, code: str | None = None, **params: Any) -> None:
        super().__init__(detail, code=code, **params)
        self.retry_after = max(1, int(retry_after))


class ValidationFailed(GongshuError):
    """Input broke one or more rules; every broken rule is listed, not only the first."""

    status = 422
    default_code = "validation_failed"

    def __init__(
        self,
        detail: str = "The input is not valid.",
        *,
        errors: Iterable[FieldError] = (),
        code: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(detail, code=code, **params)
        self.errors = list(errors)

    def extra(self) -> dict[str, Any]:
        return {"errors": [e.as_dict() for e in self.errors]}

    @classmethod
    def single(cls, field: str, code: str, message: str, **params: Any) -> ValidationFailed:
        return cls(message, errors=[FieldError(field, code, message, params=params)])


class Collector:
    """Gather field errors while checking input, then raise them all at once.

    >>> errors = Collector()
    >>> errors.add("name", "required", "Name is required.")
    >>> errors.raise_if_any()
    Traceback (most recent call last):
    ...
    gongshu.core.errors.ValidationFailed: The input is not valid.
    """

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(
        self, field: str, code: str, message: str, *, row: int | None = None, **params: Any
    ) -> None:
        self.errors.append(FieldError(field, code, message, row=row, params=params))

    def extend(self, errors: Iterable[FieldError]) -> None:
        self.errors.extend(errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def raise_if_any(self, detail: str = "The input is not valid.") -> None:
        if self.errors:
            raise ValidationFailed(detail, errors=self.errors)
