"""``hotline users ...``: accounts from the command line (the first admin is made here)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from callcenter.auth.models import Role

app = typer.Typer(help="User accounts of the console and the API.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, _ -).")],
    role: Annotated[Role, typer.Option(
        help="agent, expert, supervisor, admin, editor or reviewer.")] = Role.ADMIN,
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "",
    interface: Annotated[str | None, typer.Option(
        help="The agent's phone in Asterisk, e.g. PJSIP/agent1.")] = None,
    node: Annotated[str | None, typer.Option(
        help="The Asterisk node the phone is registered to (default: HOTLINE_NODE).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from stdin instead of a prompt.")] = False,
) -> None:
    """Create a user; the password is prompted for (there is no default password)."""
    import re

    from callcenter.auth.schemas import INTERFACE_PATTERN, NODE_PATTERN, USERNAME_PATTERN
    from callcenter.auth.services import AuthError, UserService
    from callcenter.db import Database
    from callcenter.migrate import upgrade
    from callcenter.settings import clock_of, get_settings

    if not re.match(USERNAME_PATTERN, username):
        typer.echo("用户名只能包含字母、数字、_ -，长度 2-64", err=True)
        raise typer.Exit(2)
    if interface is not None and not re.match(INTERFACE_PATTERN, interface):
        typer.echo("话机接口格式应为 PJSIP/agent1", err=True)
        raise typer.Exit(2)
    if node is not None and not re.match(NODE_PATTERN, node):
        typer.echo("节点名只能包含字母、数字、_ -，长度 1-32", err=True)
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        user = UserService(db, clock_of(settings)).create_user(
            username, password, role, actor="cli", display_name=display_name,
            interface=interface, node=node)
    except AuthError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(f"created {user.role} {user.username} (id {user.id})")
