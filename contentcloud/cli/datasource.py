"""``contentcloud datasource validate|list``."""

from __future__ import annotations

import click

from contentcloud.cli.context import registry_from, settings_from
from contentcloud.cli.exit_codes import ExitCode
from contentcloud.cli.output import print_json, print_table


@click.group()
def datasource() -> None:
    """Validate, list, register, remove and run datasource profiles (YAML files in the registry
    directory), and show their run history."""


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


@datasource.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--replace", is_flag=True, help="Rewrite the profile of an already registered id.")
@click.pass_context
def add(ctx: click.Context, file: str, replace: bool) -> None:
    """Register the profile in FILE (YAML or JSON): validated, then written to the registry as
    <id>.yaml by the same writer the datasource pages use."""
    from pathlib import Path

    import yaml

    from contentcloud.datasources import write_profile
    from mdstore.errors import ConfigError

    try:
        data = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=file, rule="yaml"
        ) from None
    path = write_profile(registry_from(ctx).directory, data, replace=replace)
    click.echo(f"{path}: registered {data['id']}")


@datasource.command()
@click.argument("datasource_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def remove(ctx: click.Context, datasource_id: str, yes: bool) -> None:
    """Delete the profile of DATASOURCE_ID from the registry (its stored versions and run history
    stay)."""
    from contentcloud.datasources import remove_profile

    if not yes:
        click.confirm(f"Delete the profile of {datasource_id}?", abort=True)
    path = remove_profile(registry_from(ctx).directory, datasource_id)
    click.echo(f"{path}: deleted")


@datasource.command()
@click.argument("datasource_id")
@click.option(
    "--mode",
    type=click.Choice(["scheduled", "incremental", "full"]),
    default="scheduled",
    show_default=True,
    help="Harvest mode (scheduled: the profile's schedule decides, as the DAG does).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_context
def run(ctx: click.Context, datasource_id: str, mode: str, as_json: bool) -> None:
    """Run DATASOURCE_ID through the whole pipeline in this process (collect, transform, index,
    rdf, publish), as the DAG does, and add the run to the run history. Exit code as the worst
    step's outcome."""
    from contentcloud.cli.exit_codes import OUTCOME_CODES
    from contentcloud.history import history_row
    from contentcloud.pipeline.runs import run_datasource

    report = run_datasource(datasource_id, settings_from(ctx), mode=mode)
    row = history_row(report)
    if as_json:
        print_json(report)
    else:
        print_table(
            ["step", "outcome", "read", "written", "deleted", "errors", "seconds"],
            [
                (s["step"], s["outcome"], s["read"] or 0, s["written"] or 0, s["deleted"] or 0,
                 s["errors"] or 0, f"{s['seconds'] or 0:.1f}")
                for s in row["steps"]
            ],
            title=f"run {row['run_id']} of {datasource_id}: {row['outcome']}",
        )  # fmt: skip
    code = OUTCOME_CODES.get(row["outcome"], ExitCode.FAILED)
    if code:
        raise SystemExit(code)


@datasource.command()
@click.argument("datasource_id")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def history(ctx: click.Context, datasource_id: str, limit: int, as_json: bool) -> None:
    """The last runs of DATASOURCE_ID from the run history (kept beyond the MDStore's GC)."""
    from contentcloud.history import RunHistory

    runs = RunHistory.from_settings(settings_from(ctx)).runs(datasource_id, limit=limit)
    if as_json:
        print_json(runs)
        return
    print_table(
        ["finished", "run", "outcome", "in", "out", "deleted", "errors", "seconds"],
        [
            (r["finished_at"], r["run_id"], r["outcome"], _count(r["records_in"]), _count(r["records_out"]),
             r["deleted"], r["errors"], f"{r['seconds']:.1f}")
            for r in runs
        ],
    )  # fmt: skip


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
