"""``contentcloud x3ml``: run X3ML mappings over input files (the conformance command line).

Output goes to stdout, diagnostics to stderr. A mapping, policy or terms file the reference
engine would refuse to load ends the command with a non-zero status; problems with single
entities are reported on stderr and leave the status at 0, as the reference only logs them.
"""

from __future__ import annotations

import sys

import click

FORMAT_CHOICES = ("ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads")


@click.command(name="x3ml")
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    required=True,
    metavar="FILE",
    help="X3ML mapping file; repeat to merge several, in order.",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    metavar="FILE",
    help="XML input file; repeat to concatenate several (same root element).",
)
@click.option("--policy", metavar="FILE", help="Generator policy file.")
@click.option(
    "--terms", metavar="FILE", help="SKOS terminology (nt, ttl, rdf, trig) for <broader>/<exact_match>."
)
@click.option(
    "--uuid-test-size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Test UUIDs uuid:A… of this many letters, as the reference's -u; 0 for none.",
)
@click.option(
    "--uuid-mode",
    type=click.Choice(["test", "reproducible", "random"]),
    help="Where UUIDs come from; default: test with --uuid-test-size, reproducible otherwise.",
)
@click.option(
    "--record-id", metavar="ID", help="Record id for reproducible UUIDs (default: digest of the input)."
)
@click.option("--legacy-shorten", is_flag=True, help="Shorten URIs with the 1.8.4–1.9.1 algorithm.")
@click.option(
    "--compat",
    type=click.Choice(["current", "1.9.1", "1.8.4", "1.8.2"]),
    help="Follow an older engine where outputs differ (1.9.1 = --legacy-shorten; 1.8.4 also keeps "
    "%2F in URI templates and accepts <info> without thesaurus_info; 1.8.2 does not shorten and "
    "has the old URIorUUID).",
)
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="ntriples", show_default=True)
@click.option(
    "--stream",
    is_flag=True,
    help="Read one large input file record by record: each top-level element is mapped as a "
    "document of its own and its triples written at once, so memory holds one record "
    "(ntriples and nquads only).",
)
@click.option("--quiet", is_flag=True, help="Do not report per-entity problems on stderr.")
def x3ml(
    mappings: tuple[str, ...],
    inputs: tuple[str, ...],
    policy: str | None,
    terms: str | None,
    uuid_test_size: int,
    uuid_mode: str | None,
    record_id: str | None,
    legacy_shorten: bool,
    compat: str | None,
    fmt: str,
    stream: bool,
    quiet: bool,
) -> None:
    """Transform INPUT files with X3ML MAPPING files into RDF on stdout."""
    from transforms.x3ml import X3MLMapping

    mapping = X3MLMapping.load(
        list(mappings), policy=policy, terms=terms, legacy_shorten=legacy_shorten, compat=compat
    )
    if uuid_mode is None:
        uuid_mode = "test" if uuid_test_size > 0 else "reproducible"
    if uuid_mode == "test" and uuid_test_size == 0:
        raise click.UsageError("--uuid-mode test needs --uuid-test-size N")
    if stream:
        if len(inputs) != 1:
            raise click.UsageError("--stream reads exactly one --input file")
        if fmt not in ("ntriples", "nquads"):
            raise click.UsageError(
                "--stream writes ntriples or nquads (the other formats need the whole graph)"
            )
        results = mapping.transform_stream(
            inputs[0], record_id=record_id, uuid_mode=uuid_mode, uuid_test_size=uuid_test_size or 2
        )
    else:
        results = iter(
            [
                mapping.transform_files(
                    list(inputs), record_id=record_id, uuid_mode=uuid_mode, uuid_test_size=uuid_test_size or 2
                )
            ]
        )
    problems = 0
    out = sys.stdout.buffer
    for result in results:
        if not quiet:
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
        problems += len(result.warnings)
        out.write(result.serialize(fmt))
    out.flush()
    if problems and not quiet:
        click.echo(f"{problems} problem(s) with single entities; output written anyway", err=True)
