"""The `gongshu` command.

Commands act on the data directory (``--data-dir`` or ``GONGSHU_DATA_DIR``) as the local
platform operator: whoever can read the data directory's keys is the operator, so the CLI acts
as the system actor and every change it makes is audited as ``cli:<os user>``.

Errors print their message (and each field error) and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from gongshu import __version__
from gongshu.core.config import Settings, describe_settings
from gongshu.core.errors import GongshuError, ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime

console = Console()
err_console = Console(stderr=True)

class _Group(TyperGroup):
    """Turns expected errors into a message and exit 1, and closes the runtime afterwards."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GongshuError as exc:
            report_error(exc)
            raise typer.Exit(1) from None
        finally:
            if State.runtime is not None:
                State.runtime.close()
                State.runtime = None


app = typer.Typer(
    cls=_Group,
    name="gongshu",
    help="公数 gongshu — the provincial public data platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State:
    runtime: Runtime | None = None


def runtime() -> Runtime:
    """The runtime of this invocation, created on first use (schema brought up to date)."""
    if State.runtime is None:
        from gongshu.core import migrations
        from gongshu.modules import import_job_handlers, import_models

        import_models()
        import_job_handlers()
        settings = Settings()
        logging.basicConfig(level=settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        State.runtime = Runtime(settings)
        if not migrations.is_current(State.runtime.db):
            migrations.upgrade(State.runtime.db)
    return State.runtime


def system_actor() -> Actor:
    return Actor.system(f"cli:{getpass.getuser()}", via="cli")


def acting_as(db: Any, username: str | None) -> Actor:
    """``--as USER``: that active user's actor (through the CLI); without one, the local
    operator (``system_actor``)."""
    from gongshu.core.errors import NotFound
    from gongshu.orgs import service as orgs

    if not username:
        return system_actor()
    user = orgs.find_user(db, username)
    if user is None or not user.is_active:
        raise NotFound(f"No active user {username!r}.", code="user_not_found")
    return orgs.actor_for_user(user, via="cli")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@app.callback()
def _main(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", envvar="GONGSHU_DATA_DIR", help="Data directory (default ./gongshu-data)."
    ),
) -> None:
    if data_dir is not None:
        os.environ["GONGSHU_DATA_DIR"] = str(data_dir)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"gongshu {__version__}")


@app.command()
def init() -> None:
    """Create or upgrade the data directory: keys, metadata store schema."""
    from gongshu.core import migrations
    from gongshu.modules import import_models

    import_models()
    rt = Runtime(Settings())
    rt.keys.ensure()
    before, after = migrations.upgrade(rt.db)
    console.print(f"data directory: {rt.settings.resolved_data_dir}")
    console.print(f"database: {rt.db.engine.url.render_as_string(hide_password=True)}")
    console.print(f"schema: {before or 'empty'} → {after}")
    rt.close()


@app.command()
def config() -> None:
    """List every setting: environment variable, value in effect, description."""
    from rich.table import Table

    settings = Settings()
    table = Table("setting", "value", "description")
    for env, _default, description in describe_settings():
        name = env.removeprefix("GONGSHU_").lower()
        value = getattr(settings, name)
        if name == "database_url" and value:
            value = "(set)"
        table.add_row(env, str(value), description)
    console.print(table)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on."),
    port: int | None = typer.Option(None, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Server processes sharing the port (PostgreSQL; "
                                "each has GONGSHU_WEB_THREADS threads and its own pool)."),
) -> None:
    """Serve the web UI and the API (with an in-process job worker)."""
    import uvicorn

    from gongshu.web.app import create_app

    rt = runtime()
    s = rt.settings
    host, port = host or s.host, port or s.port
    console.print(f"gongshu serving on http://{host}:{port}  (API docs: /api/docs)")
    if workers == 1:
        uvicorn.run(create_app(rt), host=host, port=port, log_level="warning")
        return
    # each process builds its own runtime from the same settings (environment, gongshu.toml)
    rt.close()
    State.runtime = None
    uvicorn.run("gongshu.web.app:create_app", factory=True, workers=workers, host=host,
                port=port, log_level="warning")


@app.command()
def worker(
    threads: int = typer.Option(1, help="Jobs run at the same time by this process."),
    grace: float | None = typer.Option(
        None, help="Seconds the running jobs get to finish when the worker is told to stop "
        "(default: GONGSHU_WORKER_GRACE_SECONDS)."),
) -> None:
    """Run jobs in this process until SIGTERM or Ctrl-C, then drain: claim nothing more, let
    the running jobs finish within the grace period, hand back those still running, exit 0."""
    import signal
    import threading

    from gongshu.core.jobs import Worker

    rt = runtime()
    w = Worker(rt, threads=threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    w.start()
    console.print(f"worker {w.name} running {threads} thread(s); SIGTERM or Ctrl-C to stop")
    while not stop.wait(1.0):
        pass
    limit = rt.settings.worker_grace_seconds if grace is None else grace
    console.print(f"worker {w.name} draining ({limit:.0f} s for the running jobs)")
    drained = w.drain(limit)
    console.print(f"worker {w.name} stopped: {drained.finished} job(s) finished, "
                  f"{drained.handed_back + drained.requeued} handed back")
    if drained.requeued:
        # a job that never reached a progress report still runs in a thread of ours: its job
        # is queued again; end the process without waiting for it (the audit head is written)
        rt.audit_checkpoints.close()
        sys.stdout.flush()
        os._exit(0)


@app.command()
def backup(
    target: Path = typer.Argument(..., help="A new (or empty) directory for the backup."),
    with_keys: bool = typer.Option(False, "--with-keys", help="Copy the keys too (keep such a "
                                   "backup encrypted; by default keys are backed up apart)."),
) -> None:
    """Back up the metadata store (one snapshot), the datasets and the audit checkpoints,
    consistently even while the platform runs (docs/operations.md, "Backup and restore")."""
    from gongshu.core import backup as backups

    settings = Settings()
    result = backups.backup(settings, target, with_keys=with_keys)
    m = result.manifest
    size = sum(f["bytes"] for f in m["files"])
    console.print(f"backup of {m['backend']} in {result.path}: {len(m['files'])} files, "
                  f"{size:,} bytes, audit chain head at event {m['audit']['head_seq']} "
                  f"(checkpoint at {m['audit']['checkpoint_seq']})")


@app.command()
def restore(
    source: Path = typer.Argument(..., help="A directory written by `gongshu backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a target that is not empty "
                               "(its audit checkpoint files are kept aside, never deleted)."),
) -> None:
    """Restore a backup into this data directory and database (empty ones unless --force),
    then bring the schema up to date. Run `gongshu audit verify` afterwards."""
    from gongshu.core import backup as backups
    from gongshu.core import migrations
    from gongshu.modules import import_models

    settings = Settings()
    manifest = backups.restore(settings, source, force=force)
    import_models()
    rt = Runtime(settings)
    try:
        before, after = migrations.upgrade(rt.db)
        from gongshu.core.jobs import forget_workers

        with rt.db.transaction() as db:  # the backed-up platform's workers do not run here
            forget_workers(db)
    finally:
        rt.close()
    console.print(f"restored the backup of {manifest['snapshot_at']} ({manifest['backend']}, "
                  f"audit chain head at event {manifest['audit']['head_seq']}) into "
                  f"{settings.resolved_data_dir}; schema {before} → {after}")
    console.print("next: gongshu audit verify")


@app.command()
def demo(
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Serve the platform afterwards."),
    reset: bool = typer.Option(False, "--reset", help="Delete the data directory first."),
    host: str | None = typer.Option(None, help="Address to listen on."),
    port: int | None = typer.Option(None, help="Port to listen on."),
) -> None:
    """Prepare a synthetic demo province in the data directory (once) and serve it."""
    import shutil

    from gongshu.demo import builder

    settings = Settings()
    if reset and settings.resolved_data_dir.exists():
        shutil.rmtree(settings.resolved_data_dir)
        console.print(f"removed {settings.resolved_data_dir}")
    rt = runtime()
    if builder.is_built(rt):
        console.print(f"the demo province is already in {rt.settings.resolved_data_dir}")
        logins = builder.read_logins(rt)
    else:
        console.print(f"building the demo province in {rt.settings.resolved_data_dir} …")
        ctx = builder.build_demo(rt, progress=lambda msg: console.print(f"  {msg}"))
        logins = [tuple(row) for row in ctx.logins]
    _print_logins(logins, host or rt.settings.host, port or rt.settings.port)
    if serve_after:
        serve(host=host, port=port, workers=1)


def _print_logins(logins: list[tuple[str, ...]], host: str, port: int) -> None:
    from rich.table import Table

    table = Table("username", "password", "role", "organisation", title="demo logins")
    for row in logins:
        table.add_row(*row)
    console.print(table)
    console.print(f"Open http://{host}:{port}/ and sign in, e.g. as [bold]admin[/bold] "
                  "(organisations, users), [bold]editor[/bold] (catalog), [bold]auditor[/bold] (audit log).")
    console.print("The logins are kept in demo-logins.txt in the data directory (mode 0600).")


_registered = False


def build_app() -> typer.Typer:
    """The command with every module's sub-commands (registered once)."""
    global _registered
    if not _registered:
        from gongshu.modules import submodules

        for module in submodules("cli"):
            register = getattr(module, "register", None)
            if register is not None:
                register(app)
        _registered = True
    return app


def report_error(exc: GongshuError) -> None:
    err_console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            where = f"row {e.row}, " if e.row is not None else ""
            err_console.print(f"  {where}{e.field}: {e.message}")


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
