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

FORMATS = ("turtle", "ntriples", "rdfxml", "jsonld", "trig", "xml")


def map_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a chain run, shared by the group and ``map run``."""
    options = [
        click.option(
            "--mapping",
            "mappings",
            multiple=True,
            metavar="FILE",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Mapping file (XSLT or X3ML); repeat for a chain, applied in order. Consecutive "
            "X3ML files are merged into one mapping.",
        ),
        click.option(
            "--input",
            "input_file",
            metavar="FILE",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The record to transform.",
        ),
        click.option(
            "--policy",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="X3ML generator policy.",
        ),
        click.option(
            "--terms",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="SKOS terminology for X3ML exact_match/broader conditions.",
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
