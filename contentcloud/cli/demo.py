"""``contentcloud demo``: run the whole pipeline on the bundled sample records, then serve it."""

from __future__ import annotations

import time

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import ExitCode


@click.command()
@click.option("--no-serve", is_flag=True, help="Exit after the pipeline instead of serving the results.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface the web application listens on."
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the web application (a free one if taken).",
)
@click.option(
    "--source-only",
    is_flag=True,
    help="Serve only the demo's OAI-PMH source of sample records on --host/--port (no pipeline): "
    "what the docker stack's demo profile harvests.",
)
@click.pass_context
def demo(ctx: click.Context, no_serve: bool, host: str, port: int, source_only: bool) -> None:
    """Harvest the bundled sample records from a local OAI-PMH source, transform them to PE, index,
    publish, print what to open, and serve the OAI-PMH publisher, search API and curator pages."""
    from contentcloud.demo import BackgroundServer, free_port, run_pipeline
    from contentcloud.web import create_app

    settings = settings_from(ctx)
    if source_only:
        _serve_source(settings, host, port)
    authenticator, password = None, None
    if not no_serve:  # before the pipeline: a refused --host fails at once
        from contentcloud.auth import serving_authenticator

        authenticator, password = serving_authenticator(settings, host)
    started = time.monotonic()
    click.echo("contentcloud demo: the whole pipeline on the embedded defaults", err=True)
    click.echo(
        f"  MDStore  {settings.mdstore}\n  index    {settings.index}\n  registry {settings.registry}",
        err=True,
    )

    def on_step(summary) -> None:
        click.echo(
            f"  {summary.step:<10} {summary.outcome:<12} read {summary.read:>5}  written {summary.written:>5}"
            f"  errors {summary.errors:>3}  {summary.seconds:5.1f}s",
            err=True,
        )

    result, source = run_pipeline(
        settings, on_step=on_step, on_note=lambda note: click.echo(f"  note: {note}", err=True)
    )
    seconds = time.monotonic() - started
    web = None
    if not no_serve:
        web = BackgroundServer(
            create_app(settings, authenticator=authenticator), host, free_port(port, host)
        ).start()
    base = web.url if web else f"http://{host}:{port}"
    click.echo(_summary_text(result, base, seconds, serving=web is not None, password=password))
    if web is None:
        source.stop()
        return
    _serve_until_stopped(web, source)


def _serve_source(settings, host: str, port: int) -> None:
    """The sample records as an OAI-PMH source of their own, until interrupted or terminated."""
    from contentcloud.demo import sample_records, start_source

    source = start_source(settings, port, host=host)
    click.echo(
        f"contentcloud demo source: {len(sample_records())} sample records over OAI-PMH at "
        f"{source.url}/oai (Ctrl-C stops)",
        err=True,
    )
    _serve_until_stopped(source)


def _serve_until_stopped(*servers) -> None:
    """Serve until interrupted (Ctrl-C), then stop ``servers`` in order and exit 0."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopped.", err=True)
    finally:
        for server in servers:
            server.stop()
    raise SystemExit(ExitCode.OK)


def _summary_text(result, base: str, seconds: float, *, serving: bool, password: str | None = None) -> str:
    lines = [
        "",
        f"Done in {seconds:.1f}s: {result.documents} documents indexed from {result.source_url}/oai.",
        "",
        "Facets (top values):",
    ]
    for name, values in result.facets.items():
        shown = ", ".join(f"{value} ({count})" for value, count in values) or "-"
        lines.append(f"  {name:<18} {shown}")
    lines += [
        "",
        "Open:" if serving else "When served (contentcloud serve), open:",
        f"  OAI-PMH publisher   {base}/oai?verb=Identify",
        f"                      {base}/oai?verb=ListRecords&metadataPrefix=oai_dc",
        f"                      {base}/oai?verb=ListSets",
        f"  search API (Solr)   {base}/solr/contentcloud/select?q=*:*&facet=true&facet.field=subject_facet",
        f"                      {base}/solr/contentcloud/select?q=title:villa&fl=id,title,datasource",
        f"  curator pages       {base}/curator/",
    ]
    if password:
        from contentcloud.auth import ONE_TIME_USER

        lines.append(
            f"                      user {ONE_TIME_USER}, one-time password {password} "
            "(valid while this demo runs)"
        )
    lines += [
        f"  SPARQL endpoint     {base}/sparql   (described at {base}/.well-known/void)",
        "",
        "Try on the command line:",
        "  contentcloud mdstore list",
        "  contentcloud mdstore export demo --ids-only | head",
        "  contentcloud map preview demo --sample 2",
        "  contentcloud index --check demo",
        "  contentcloud rdf --check demo",
    ]
    if serving:
        lines += ["", "Serving until interrupted (Ctrl-C)."]
    return "\n".join(lines)
