"""``contentcloud curator hash-password|new-token``: make the credential entries the curator pages
read from the settings (``CONTENTCLOUD_CURATOR_USERS``, ``CONTENTCLOUD_CURATOR_TOKENS`` or the
credentials file). Nothing is stored by these commands: they print the entry to put there.
"""

from __future__ import annotations

import sys

import click

from contentcloud.cli.exit_codes import ExitCode


@click.group("curator")
def curator_group() -> None:
    """Make credentials for the curator pages (password hashes, API tokens)."""


def _check_name(name: str) -> str:
    from contentcloud.auth import NAME

    if not NAME.match(name):
        raise click.BadParameter("letters, digits and ._@- only, at most 64 characters", param_hint="NAME")
    return name


@curator_group.command("hash-password")
@click.argument("user")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting (scripts).",
)
def hash_password_cmd(user: str, password_stdin: bool) -> None:
    """Print USER's entry for CONTENTCLOUD_CURATOR_USERS: ``USER:scrypt:…`` (salted scrypt hash).

    The password is prompted for twice (not echoed) or read from stdin; it is never printed,
    logged or stored, only its hash."""
    from contentcloud.auth import hash_password

    _check_name(user)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 8:
        click.echo("error: the password is shorter than 8 characters", err=True)
        raise SystemExit(ExitCode.USAGE)
    click.echo(f"{user}:{hash_password(password)}")


@curator_group.command("new-token")
@click.argument("name")
def new_token_cmd(name: str) -> None:
    """Make an API token for a script (``Authorization: Bearer <token>``).

    Prints the token (shown only now: give it to the script) on the first line and the entry
    for CONTENTCLOUD_CURATOR_TOKENS (``NAME:sha256:…``, the token's hash) on the second."""
    from contentcloud.auth import new_token

    _check_name(name)
    token, stored = new_token()
    click.echo(token)
    click.echo(f"{name}:{stored}")
    click.echo(
        f"the first line is the token for the script; add the second to CONTENTCLOUD_CURATOR_TOKENS ({name})",
        err=True,
    )
