"""`gongshu org …`, `gongshu user …`, `gongshu token …`."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.orm import Session

from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core.errors import NotFound
from gongshu.orgs import service
from gongshu.orgs.schemas import OrganizationPublic, TokenPublic, user_public
from gongshu.orgs.service import Organization, User

org_app = typer.Typer(help="Organisations (Arts. 4-5).", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for machines.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")


def resolve_org(db: Session, ref: str) -> Organization:
    """An organisation by id, credit code, provider code or exact name."""
    try:
        org = service.org_by_id(db, uuid.UUID(ref))
    except ValueError:
        org = (service.find_organization(db, uscc=ref) or service.find_organization(db, code=ref)
               or service.find_organization(db, name=ref))
    if org is None:
        raise NotFound(f"No organisation {ref!r} (give an id, credit code, provider code or name).",
                       code="org_not_found")
    return org


def _user(db: Session, username: str) -> User:
    user = service.find_user(db, username)
    if user is None:
        raise NotFound(f"No user {username!r}.", code="user_not_found")
    return user


@org_app.command("list")
def org_list(kind: str | None = None, json_output: bool = typer.Option(False, "--json")) -> None:
    """List organisations in tree order."""
    with runtime().db.transaction(write=False) as db:
        rows, _ = service.list_organizations(system_actor(), db, kind=kind, limit=100_000)
        if json_output:
            print_json([OrganizationPublic.model_validate(o).model_dump(mode="json") for o in rows])
            return
        table = Table("name", "kind", "level", "region", "credit code", "id")
        for o in rows:
            table.add_row("  " * o.depth + o.name, o.kind, o.level or "", o.region_code or "",
                          o.uscc or "", str(o.id))
        console.print(table)


@org_app.command("tree")
def org_tree() -> None:
    """Show the organisation tree."""
    with runtime().db.transaction(write=False) as db:
        roots = service.org_tree(system_actor(), db)
        for root in roots:
            tree = Tree(f"[bold]{root.org.name}[/bold]")

            def add(branch: Tree, node: service.OrgNode) -> None:
                for child in node.children:
                    add(branch.add(f"{child.org.name} [dim]{child.org.kind}[/dim]"), child)

            add(tree, root)
            console.print(tree)


@org_app.command("create")
def org_create(
    name: str,
    kind: str = typer.Option(..., help="government, data_bureau, egov_office, public_body, operator, enterprise, data_merchant, resource_centre"),
    parent: str | None = typer.Option(None, help="Parent organisation (id, credit code or name); none for the root"),
    level: str | None = typer.Option(None, help="province, city or county"),
    region: str | None = typer.Option(None, help="GB/T 2260 region code"),
    uscc: str | None = typer.Option(None, help="Unified social credit code"),
    code: str | None = typer.Option(None, help="Provider code for the catalog"),
) -> None:
    """Create an organisation."""
    with runtime().db.transaction() as db:
        parent_id = resolve_org(db, parent).id if parent else None
        org = service.create_organization(system_actor(), db, name=name, kind=kind,
                                          parent_id=parent_id, level=level, region_code=region,
                                          uscc=uscc, code=code)
        console.print(f"created {org.name} ({org.id})")


@user_app.command("create")
def user_create(
    username: str,
    name: str = typer.Option(..., "--name", help="Display name"),
    org: str = typer.Option(..., help="Organisation (id, credit code or name)"),
    email: str | None = None,
    password: str | None = typer.Option(None, help="Initial password (prompted if omitted)"),
) -> None:
    """Create a user."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with runtime().db.transaction() as db:
        user = service.create_user(system_actor(), db, username=username, display_name=name,
                                   org_id=resolve_org(db, org).id, password=password, email=email)
        console.print(f"created user {user.username} ({user.id})")


@user_app.command("list")
def user_list(org: str | None = None, json_output: bool = typer.Option(False, "--json")) -> None:
    """List users with their roles."""
    with runtime().db.transaction(write=False) as db:
        org_id = resolve_org(db, org).id if org else None
        users, _ = service.list_users(system_actor(), db, org_id=org_id, limit=100_000)
        if json_output:
            print_json([user_public(u).model_dump(mode="json") for u in users])
            return
        table = Table("username", "name", "organisation", "roles", "active")
        for u in users:
            roles = ", ".join(f"{g.role}@{g.org.name}{'/*' if g.subtree else ''}" for g in u.grants)
            table.add_row(u.username, u.display_name, u.org.name, roles, "yes" if u.is_active else "no")
        console.print(table)


@user_app.command("grant")
def user_grant(
    username: str,
    role: str,
    org: str = typer.Option(..., help="Organisation the role applies to"),
    subtree: bool = typer.Option(False, help="Also every organisation below it"),
) -> None:
    """Give a user a role at an organisation."""
    with runtime().db.transaction() as db:
        user = _user(db, username)
        target = resolve_org(db, org)
        service.grant_role(system_actor(), db, user_id=user.id, role=role, org_id=target.id,
                           subtree=subtree)
        console.print(f"granted {role} at {target.name}{' and below' if subtree else ''} to {username}")


@user_app.command("revoke")
def user_revoke(
    username: str,
    role: str,
    org: str = typer.Option(..., help="Organisation the role applies at"),
    recovery: bool = typer.Option(
        False, help="Recovery: take even the last administrator grant of an organisation "
        "(or the last auditor); needs --reason; audited as user.recovery"),
    reason: str = typer.Option("", help="Why (required with --recovery)"),
) -> None:
    """Take a role away from a user (see docs/operations.md, 'Separation of duties')."""
    with runtime().db.transaction() as db:
        user = _user(db, username)
        target = resolve_org(db, org)
        grant = service.find_grant(db, user_id=user.id, role=role, org_id=target.id)
        if grant is None:
            raise NotFound(f"{username} has no {role} role at {target.name}.",
                           code="grant_not_found")
        service.revoke_grant(system_actor(), db, grant.id, recovery=recovery, reason=reason)
        console.print(f"revoked {role} at {target.name} from {username}"
                      + (" (recovery, audited)" if recovery else ""))


@user_app.command("deactivate")
def user_deactivate(
    username: str,
    recovery: bool = typer.Option(
        False, help="Recovery: deactivate even the last administrator of an organisation"),
) -> None:
    """Deactivate a user: ends their sessions and revokes their API tokens."""
    with runtime().db.transaction() as db:
        user = _user(db, username)
        service.update_user(system_actor(), db, user.id, is_active=False, recovery=recovery)
        console.print(f"deactivated {username}" + (" (recovery, audited)" if recovery else ""))


@user_app.command("passwd")
def user_passwd(username: str) -> None:
    """Set a user's password (ends their sessions and revokes their API tokens). The way to
    reset an auditor's password: an administrator may not."""
    password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    with runtime().db.transaction() as db:
        user = _user(db, username)
        service.set_password(system_actor(), db, user.id, new_password=password)
        console.print(f"password of {username} changed")


@token_app.command("create")
def token_create(
    username: str,
    name: str = typer.Option(..., "--name", help="What the token is for"),
    days: int | None = typer.Option(None, help="Lifetime in days"),
) -> None:
    """Create an API token for a user and print it once."""
    with runtime().db.transaction() as db:
        user = _user(db, username)
        token, raw = service.create_token(system_actor(), db, name=name, days=days, user_id=user.id)
        expires = token.expires_at
    console.print(f"token for {username}, expires {expires:%Y-%m-%d %H:%M} UTC — shown once:")
    print(raw)


@token_app.command("list")
def token_list(username: str) -> None:
    """List a user's tokens (never their secrets)."""
    with runtime().db.transaction(write=False) as db:
        user = _user(db, username)
        tokens = service.list_tokens(system_actor(), db, user_id=user.id)
        table = Table("id", "name", "prefix", "expires", "revoked")
        for t in tokens:
            p = TokenPublic.model_validate(t)
            table.add_row(str(p.id), p.name, f"gs_{p.prefix}_…", f"{p.expires_at:%Y-%m-%d}",
                          "yes" if p.revoked_at else "")
        console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: uuid.UUID) -> None:
    """Revoke a token by id."""
    with runtime().db.transaction() as db:
        service.revoke_token(system_actor(), db, token_id)
        console.print(f"revoked {token_id}")
