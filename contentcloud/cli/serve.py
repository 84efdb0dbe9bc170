"""``contentcloud serve``: the web application (OAI-PMH at /oai, the curator page at /curator) under
waitress.

Why waitress: a production WSGI server in pure Python (no compiler, runs wherever the project
runs), multi-threaded, buffering slow clients away from the worker threads, with no fork model
to fit into an Airflow worker or a container. For several processes, run the same app under
gunicorn (see :mod:`contentcloud.web`).
"""

from __future__ import annotations

import logging

import click

from contentcloud.cli.context import settings_from

logger = logging.getLogger(__name__)


def one_time_notice(password: str) -> str:
    """The one time a generated password is shown: on the terminal, never through logging."""
    from contentcloud.auth import ONE_TIME_USER

    return (
        f"no curator accounts configured: log in as {ONE_TIME_USER!r} with the one-time password "
        f"{password} (valid until this process stops; CONTENTCLOUD_CURATOR_USERS sets real accounts)"
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free)."
)
@click.option(
    "--threads",
    default=32,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Worker threads (requests beyond the publisher's concurrency limit wait or get 503).",
)
@click.option(
    "--max-in-flight",
    default=8,
    show_default=True,
    type=click.IntRange(1, 512),
    help="OAI-PMH requests processed at once.",
)
@click.option(
    "--trusted-proxy",
    metavar="ADDR",
    help="Address of the reverse proxy in front (or '*'): its X-Forwarded-For and X-Forwarded-Proto "
    "give the client address (login throttle, logs) and https (Secure cookies).",
)
@click.option(
    "--no-curator",
    is_flag=True,
    help="Leave out the curator pages (serve only the public, read-only publisher and search API).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    threads: int,
    max_in_flight: int,
    trusted_proxy: str | None,
    no_curator: bool,
) -> None:
    """Serve the web application: the OAI-PMH publisher at /oai, the curator page at /curator, Solr's
    /select over the configured index at /solr/<index>/select, the SPARQL endpoint at /sparql, its
    VoID description at /.well-known/void and the entity URIs at /resource/…

    The curator pages need a login (CONTENTCLOUD_CURATOR_USERS, made with ``contentcloud curator
    hash-password``). Without accounts, serve refuses any address but loopback; on loopback it
    makes a one-time account and prints its password once."""
    from waitress import create_server

    from contentcloud.web import create_app

    settings = settings_from(ctx)
    authenticator, password = None, None
    if not no_curator:
        from contentcloud.auth import serving_authenticator

        authenticator, password = serving_authenticator(settings, host)
    app = create_app(
        settings, max_in_flight=max_in_flight, curator=not no_curator, authenticator=authenticator
    )
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="contentcloud",
        connection_limit=1000,
        channel_timeout=120,
        **(
            {
                "trusted_proxy": trusted_proxy,
                "trusted_proxy_count": 1,
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            }
            if trusted_proxy
            else {}
        ),
    )
    click.echo(f"serving http://{host}:{server.effective_port}/oai (Ctrl-C to stop)", err=True)
    if not no_curator:
        click.echo(f"curator page at http://{host}:{server.effective_port}/curator/", err=True)
    if password:
        click.echo(one_time_notice(password), err=True)
    click.echo(f"search at http://{host}:{server.effective_port}/solr/<index>/select", err=True)
    click.echo(f"SPARQL at http://{host}:{server.effective_port}/sparql, VoID at /.well-known/void", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("stopped.", err=True)
    finally:
        server.close()
