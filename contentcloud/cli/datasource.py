"""``contentcloud datasource validate|list``."""

from __future__ import annotations

import click

from contentcloud.cli.context import registry_from
from contentcloud.cli.exit_codes import ExitCode
from contentcloud.cli.output import print_json, print_table


@click.group()
def datasource() -> None:
    """Validate and list datasource profiles (YAML files in the registry directory)."""


@datasource.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Validate profile FILES against schemas/datasource.schema.json; one line per problem, and one
    warning per deprecated field (still accepted)."""
    from contentcloud.datasources import check_profile_file, file_deprecations

    bad = 0
    for path in files:
        errors = check_profile_file(path)
        for error in errors:
            click.echo(f"{error} [{error.rule}]", err=True)
        if errors:
            bad += 1
        else:
            click.echo(f"{path}: ok")
            for name, instead in file_deprecations(path):
                click.echo(f"{path}: warning: {name} is deprecated: use {instead}", err=True)
    if bad:
        click.echo(f"{bad} of {len(files)} profile(s) invalid", err=True)
        raise SystemExit(ExitCode.USAGE)


@datasource.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the registered datasources; an invalid profile is listed as such, with the reason (the
    others still run)."""
    sources, invalid = registry_from(ctx).scan()
    if as_json:
        print_json(
            [
                {
                    "id": d.id,
                    "name": d.name,
                    "protocol": d.protocol,
                    "format": d.native_format,
                    "enabled": d.enabled,
                    "schedule": d.schedule,
                    "file": str(d.path),
                    "valid": True,
                }
                for d in sources
            ]
            + [{"id": bad.id, "file": str(bad.path), "valid": False, "error": bad.reason} for bad in invalid]
        )
        return
    print_table(
        ["id", "name", "protocol", "format", "schedule", "enabled"],
        [
            (d.id, d.name, d.protocol, d.native_format, d.schedule or "-", "yes" if d.enabled else "no")
            for d in sources
        ]
        + [
            (bad.id or bad.path.name, "-", "-", "-", "-", f"INVALID ({bad.path.name}: {bad.reason})")
            for bad in invalid
        ],
    )
    if invalid:
        click.echo(
            f"{len(invalid)} profile(s) invalid and skipped; see: contentcloud datasource validate "
            + " ".join(str(bad.path) for bad in invalid),
            err=True,
        )
