"""`gongshu sharing …` (Art. 12): the command group; delivery adds ``pull`` and ``trace``."""

from __future__ import annotations

import typer

from gongshu.sharing import delivery_cli

sharing_app = typer.Typer(help="Sharing between public bodies (Art. 12).", no_args_is_help=True)
delivery_cli.register(sharing_app)


def register(app: typer.Typer) -> None:
    app.add_typer(sharing_app, name="sharing")
