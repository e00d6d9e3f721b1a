"""The platform's modules (rooms), in one list.

The web app mounts each module's ``api.router`` and ``pages.router``, the CLI its ``cli.app``,
the worker imports its ``jobs`` handlers, and Alembic sees its ``models``. A module may lack
any of these; a new module is added here and nowhere else.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: in dependency order: a module may use the services of those before it
MODULES: tuple[str, ...] = (
    "orgs",
    "audit",
    "jobs",
    "catalog",
    "grading",
    "library",
    "sharing",
    "opening",
    "deid",
    "sandbox",
)


def submodules(name: str) -> list[ModuleType]:
    """Import ``gongshu.<module>.<name>`` for every module that has one."""
    found = []
    for module in MODULES:
        qualified = f"gongshu.{module}.{name}"
        try:
            found.append(importlib.import_module(qualified))
        except ModuleNotFoundError as exc:
            # only a missing submodule is fine; a missing dependency inside it is a real error
            if exc.name not in (qualified, f"gongshu.{module}"):
                raise
    return found


def import_models() -> None:
    """Import every table definition so ``Base.metadata`` is complete."""
    import gongshu.core.audit  # noqa: F401
    import gongshu.core.jobs  # noqa: F401

    submodules("models")


def import_job_handlers() -> None:
    submodules("jobs")


def start_hooks() -> list[object]:
    """Each module's ``startup.on_start(runtime)``: work a server does once, off the request path."""
    return [m.on_start for m in submodules("startup") if hasattr(m, "on_start")]
