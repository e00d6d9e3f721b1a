"""`gongshu sharing pull|trace` (written by the delivery work)."""

from typing import Any


def register(app: Any) -> None:
    """Adds pull and trace (delivery work)."""
