"""``contentcloud map --mapping FILE… --input FILE``: the curator's quick check.

Applies any chain of mapping files (XSLT and/or X3ML, told apart by extension or root element) to
one input file and prints the result; a failure prints the step and the place in the mapping.

``map`` is a group so that sub-commands (``map preview|coverage|diff|check``…) can join it; without
a sub-command the group itself runs the chain, and ``map run`` is the same thing spelled out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.output import print_json

FORMATS = ("turtle", "ntriples", "rdfxml", "jsonld", "trig", "xml")
#: an existing file given as an option's value
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def mapping_option(help: str) -> Callable[..., Any]:
    """``--mapping FILE`` (repeatable): the chain's mapping files, or a draft's."""
    return click.option("--mapping", "mappings", multiple=True, metavar="FILE", type=FILE, help=help)


def x3ml_file_options(policy_help: str, terms_help: str) -> list[Callable[..., Any]]:
    """``--policy FILE`` and ``--terms FILE`` of an X3ML mapping."""
    return [
        click.option("--policy", type=FILE, help=policy_help),
        click.option("--terms", type=FILE, help=terms_help),
    ]


def map_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a chain run, shared by the group and ``map run``."""
    options = [
        mapping_option(
            "Mapping file (XSLT or X3ML); repeat for a chain, applied in order. Consecutive "
            "X3ML files are merged into one mapping."
        ),
        click.option("--input", "input_file", metavar="FILE", type=FILE, help="The record to transform."),
        *x3ml_file_options(
            "X3ML generator policy.", "SKOS terminology for X3ML exact_match/broader conditions."
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default=None,
            help="Output serialization [default: turtle for RDF, the XML itself otherwise].",
        ),
        click.option(
            "--param", "params", multiple=True, metavar="NAME=VALUE", help="Stylesheet parameter; repeatable."
        ),
        click.option(
            "--mappings-dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Directory mappings may read from (imports, document(), vocabularies) [default: the "
            "configured mappings directory when the first mapping lies in it, else that file's "
            "directory].",
        ),
        click.option(
            "--record-id",
            help="Record id for recordId and reproducible UUIDs [default: the input file name].",
        ),
        click.option(
            "--xslt-version",
            type=click.Choice(["1.0", "2.0", "3.0"]),
            help="Force the XSLT processor (1.0: lxml, 2.0/3.0: Saxon) instead of the stylesheet's "
            "version attribute.",
        ),
        click.option("--uuid-test-size", type=int, help="X3ML: deterministic test UUIDs of this size."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), function)


@click.group("map", invoke_without_command=True)
@map_options
@click.pass_context
def map_group(ctx: click.Context, **options: Any) -> None:
    """Apply mapping files to one input file and print the result (the curator's quick check)."""
    if ctx.invoked_subcommand is None:
        run_map(ctx, **options)


@map_group.command("run")
@map_options
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Apply mapping files to one input file and print the result (same as ``map`` alone)."""
    run_map(ctx, **options)


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--param")
        params[name.strip()] = text
    return params


def _mappings_dir(ctx: click.Context, first: Path, given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    configured = Path(settings_from(ctx).mappings).resolve()
    first = first.resolve()
    return configured if first.is_relative_to(configured) else first.parent


def run_map(
    ctx: click.Context,
    *,
    mappings: tuple[Path, ...],
    input_file: Path | None,
    policy: Path | None,
    terms: Path | None,
    fmt: str | None,
    params: tuple[str, ...],
    mappings_dir: Path | None,
    record_id: str | None,
    xslt_version: str | None,
    uuid_test_size: int | None,
) -> None:
    from transforms.payload import Payload, RecordContext
    from transforms.rdf import serialize_payload
    from transforms.registry import build_chain, steps_from_files

    if not mappings:
        raise click.UsageError("give at least one --mapping FILE", ctx)
    if input_file is None:
        raise click.UsageError("give the record to transform with --input FILE", ctx)
    x3ml_options: dict[str, Any] = {}
    if uuid_test_size is not None:
        x3ml_options.update(uuid_mode="test", uuid_test_size=uuid_test_size)
    steps = steps_from_files(
        [p.resolve() for p in mappings],
        policy=policy.resolve() if policy else None,
        terms=terms.resolve() if terms else None,
        xslt_version=xslt_version,
        x3ml_options=x3ml_options,
    )
    chain = build_chain(
        steps,
        base_dir=_mappings_dir(ctx, mappings[0], mappings_dir),
        params=_parse_params(params),
        output=fmt or "xml",
    )
    context = RecordContext(record_id or input_file.name, input_file.name)
    payload = chain.apply_payload(Payload.from_body(input_file.read_bytes()), context)
    for warning in context.warnings:
        click.echo(f"warning: {warning}", err=True)
    data = serialize_payload(payload, fmt or _default_format(payload), record_id=context.record_id)
    click.echo(data.decode("utf-8").rstrip("\n"))


def _default_format(payload: Any) -> str:
    """Turtle for RDF (readable), the XML itself for any other XML (e.g. pe2oai_dc's oai_dc)."""
    if not payload.is_xml:
        return "turtle"
    root = payload.tree().getroot()
    return "turtle" if root.tag == "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF" else "xml"


# --- the curator workbench: preview, coverage, diff, check -------------------------------------


def draft_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """A draft mapping for ``preview``/``coverage``/``diff`` (the profile's chain when none is given)."""
    options = [
        mapping_option(
            "Draft mapping (XSLT or X3ML, by extension or root element); repeatable. Replaces the "
            "mapping steps of the datasource's chain and keeps its other steps (vocabularies, validate), "
            "its X3ML policy/terms and XSLT parameters."
        ),
        click.option(
            "--standalone",
            is_flag=True,
            help="Use the --mapping files alone as the chain, not inside the datasource's chain.",
        ),
        *x3ml_file_options(
            "X3ML generator policy for the draft [default: the profile's].",
            "SKOS terminology for the draft [default: the profile's].",
        ),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), function)


def _draft(
    mappings: tuple[Path, ...], standalone: bool, policy: Path | None, terms: Path | None
) -> dict[str, Any]:
    if standalone and not mappings:
        raise click.UsageError("--standalone needs at least one --mapping FILE")
    return {
        "mappings": [p.resolve() for p in mappings],
        "standalone": standalone,
        "policy": policy.resolve() if policy else None,
        "terms": terms.resolve() if terms else None,
    }


@map_group.command("preview")
@click.argument("datasource_id", metavar="DATASOURCE")
@draft_options
@click.option("--sample", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many records, spread evenly over the id order.")
@click.option("--ids", "ids", multiple=True, metavar="ID",
              help="Preview these records instead (record ids or original ids); repeatable.")
@click.option("--record", "records", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Preview this record of your own (an XML file) instead of stored ones; repeatable.")
@click.option("--no-check", is_flag=True, help="Do not check the output against the PE/CIDOC-CRM ontology.")
@click.option("--strict", is_flag=True,
              help="Ontology warnings and the mapping's warnings (paths matching nothing, links writing "
              "nothing) fail too.")
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
@click.pass_context
def preview_cmd(ctx: click.Context, datasource_id: str, sample: int, ids: tuple[str, ...],
                records: tuple[Path, ...], no_check: bool, strict: bool, as_json: bool, **draft: Any) -> None:
    """Apply DATASOURCE's chain (or a draft mapping) to a few records of its current native version (or to
    your own records) and show each input beside its output, with every error (record id, mapping location,
    XPath), the ontology check of the output and the mapping's findings over the sample (X3ML paths that
    match nothing, links that write nothing). Exit 3 when a record fails or the ontology check finds errors
    (with --strict: any issue or finding)."""
    from click.core import ParameterSource

    from contentcloud.cli.exit_codes import ExitCode
    from contentcloud.curator.workbench import run_preview

    sample_given = ctx.get_parameter_source("sample") is ParameterSource.COMMANDLINE
    if ids and sample_given:
        raise click.UsageError("--sample and --ids exclude each other: give one of them")
    if records and (ids or sample_given):
        raise click.UsageError("--record previews your own records: it excludes --sample and --ids")
    report = run_preview(
        datasource_id,
        settings_from(ctx),
        sample=sample,
        ids=ids or None,
        check=not no_check,
        own=[(p.name, p.read_bytes()) for p in records] or None,
        **_draft(**draft),
    )
    if as_json:
        print_json(report.as_dict())
    else:
        from contentcloud.cli.curator_output import show_preview

        show_preview(report)
    if report.failed or report.missing or report.ontology_errors:
        raise SystemExit(ExitCode.RECORD_ERRORS)
    if strict and (report.ontology_warnings or report.findings):
        raise SystemExit(ExitCode.RECORD_ERRORS)


@map_group.command("coverage")
@click.argument("datasource_id", metavar="DATASOURCE")
@draft_options
@click.option("--method", type=click.Choice(["auto", "static", "trace"]), default="auto", show_default=True,
              help="How 'read' is decided: static (the X3ML mapping's XPaths), trace (running the chain on "
              "altered records; any chain), auto (static for X3ML, trace otherwise).")
@click.option("--distinct-cap", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Count distinct values exactly up to this many per path.")
@click.option("--examples", type=click.IntRange(0, 20), default=3, show_default=True,
              help="Example values per path.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N records (in id order).")
@click.option("--json", "as_json", is_flag=True, help="Print the coverage as JSON.")
@click.pass_context
def coverage_cmd(ctx: click.Context, datasource_id: str, method: str, distinct_cap: int, examples: int,
                 limit: int | None, as_json: bool, **draft: Any) -> None:
    """Every source path of DATASOURCE's current native version: how many records have it, distinct and
    example values, and whether the mapping reads it; unread paths found in most records first."""
    from contentcloud.cli.output import progress_bar
    from contentcloud.curator.workbench import run_coverage

    with progress_bar(f"coverage {datasource_id}") as on_progress:
        report = run_coverage(datasource_id, settings_from(ctx), method=method, distinct_cap=distinct_cap,
                              examples=examples, limit=limit, on_progress=on_progress, **_draft(**draft))
    if as_json:
        print_json(report.as_dict())
    else:
        from contentcloud.cli.curator_output import show_coverage

        show_coverage(report)


@map_group.command("diff")
@click.argument("datasource_id", metavar="DATASOURCE")
@draft_options
@click.option("--max-details", type=click.IntRange(0, 100_000), default=20, show_default=True,
              help="Records whose added/removed triples are listed.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N native records (in id order).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.pass_context
def diff_cmd(ctx: click.Context, datasource_id: str, max_details: int, limit: int | None, as_json: bool,
             **draft: Any) -> None:
    """Run a draft mapping over DATASOURCE's current native version and compare, record by record and as RDF
    graphs, with its current transformed version: changed, unchanged, newly failing, newly passing, the
    triples added and removed, and a summary by predicate. Without --mapping, the profile's chain as its files
    are now. Read-only. Exit 3 when records newly fail."""
    from contentcloud.cli.exit_codes import ExitCode
    from contentcloud.cli.output import progress_bar
    from contentcloud.curator.workbench import run_diff

    with progress_bar(f"diff {datasource_id}") as on_progress:
        report = run_diff(datasource_id, settings_from(ctx), max_details=max_details, limit=limit,
                          on_progress=on_progress, **_draft(**draft))
    if as_json:
        print_json(report.as_dict())
    else:
        from contentcloud.cli.curator_output import show_diff

        show_diff(report)
    if report.counts.get("newly_failing"):
        raise SystemExit(ExitCode.RECORD_ERRORS)


@map_group.command("check")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--ontology", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ontology digest [default: schemas/ontology/pe-crm.json].")
@click.option("--strict", is_flag=True, help="Warnings (terms outside the ontology's namespaces) fail too.")
@click.option("--json", "as_json", is_flag=True, help="Print the issues as JSON.")
@click.pass_context
def check_cmd(ctx: click.Context, files: tuple[Path, ...], ontology: Path | None, strict: bool,
              as_json: bool) -> None:
    """Check RDF files (N-Triples, Turtle, RDF/XML, JSON-LD, TriG; by extension) against the PE/CIDOC-CRM
    ontology: unknown classes and properties, domain and range violations (RDFS subclass and subproperty
    reasoning), literals where resources are expected. Exit 3 when errors are found."""
    from contentcloud.cli.exit_codes import ExitCode
    from contentcloud.curator.workbench import check_files, load_ontology

    results = check_files(files, load_ontology(ontology))
    issues = [issue for found in results.values() for issue in found]
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    if as_json:
        print_json({"files": {name: [i.as_dict() for i in found] for name, found in results.items()},
                    "errors": errors, "warnings": warnings})
    else:
        for issue in issues:
            click.echo(str(issue))
        click.echo(f"{len(files)} file(s): {errors} error(s), {warnings} warning(s)", err=True)
    if errors or (strict and warnings):
        raise SystemExit(ExitCode.RECORD_ERRORS)
