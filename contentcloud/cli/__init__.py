"""The ``contentcloud`` command: a click group whose sub-commands load on first use.

Each group lives in its own module under ``contentcloud/cli/``; this file only lists them, so
``contentcloud --help`` imports none of the heavy libraries (lxml, saxonche, pymongo, pysolr).
"""

from __future__ import annotations

import errno
import importlib
import logging
import sqlite3
import sys

import click

from contentcloud.cli.exit_codes import ExitCode

#: command name → "module:attr" of a click command; adding a command is one line here
COMMANDS: dict[str, str] = {
    "demo": "contentcloud.cli.demo:demo",
    "datasource": "contentcloud.cli.datasource:datasource",
    "mdstore": "contentcloud.cli.mdstore:mdstore",
    "settings": "contentcloud.cli.settings_cmd:settings_group",
    "plugins": "contentcloud.cli.plugins_cmd:plugins_group",
    "x3ml": "contentcloud.cli.x3ml:x3ml",
    "publish": "contentcloud.cli.publish:publish",
    "serve": "contentcloud.cli.serve:serve",
    "harvest": "contentcloud.cli.harvest:harvest",
    "transform": "contentcloud.cli.transform:transform",
    "map": "contentcloud.cli.map:map_group",
    "download": "contentcloud.cli.download:download",
    "index": "contentcloud.cli.index:index",
    "curator": "contentcloud.cli.curator_auth:curator_group",
    "rdf": "contentcloud.cli.rdf:rdf",
}

HELP = {
    "demo": "Run the whole pipeline on bundled sample records, then serve the results.",
    "datasource": "Validate, list, add, remove and run datasource profiles; their run history.",
    "mdstore": "Inspect, export, garbage-collect and roll back MDStore units.",
    "settings": "Show the effective settings and where each value comes from.",
    "plugins": "List the registered plugins of every kind.",
    "x3ml": "Run X3ML mappings over input files (the conformance command line).",
    "publish": "Refresh the OAI-PMH publisher index from the MDStore.",
    "serve": "Serve the web application: OAI-PMH at /oai, search at /solr, curator pages at /curator.",
    "harvest": "Harvest a datasource (OAI-PMH, FTP, HTTP) into its native MDStore unit.",
    "transform": "Apply a datasource's transform chain: native version -> new transformed version.",
    "map": "Apply mapping files (XSLT/X3ML) to one input file; preview, coverage, diff and check them.",
    "download": "Download the files a datasource's records point to (ledger, --failures).",
    "index": "Feed a datasource into the search index (--full rebuilds; --check compares).",
    "curator": "Make credentials for the curator pages: hash-password USER, new-token NAME.",
    "rdf": "Load a datasource's graph into the RDF store behind /sparql (--full rebuilds; --check compares).",
}


class LazyGroup(click.Group):
    """A group that imports a sub-command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        from contentcloud.cli.examples import add_examples

        return add_examples(getattr(importlib.import_module(module_name), attr), cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.option(
    "--mdstore",
    "mdstore_uri",
    metavar="URI",
    help="MDStore URI (sqlite:///path or mongodb://…); overrides CONTENTCLOUD_MDSTORE.",
)
@click.option(
    "--index",
    "index_uri",
    metavar="URI",
    help="Index URI (sqlite:///path or http://…/solr/<core>); overrides CONTENTCLOUD_INDEX.",
)
@click.option(
    "--registry",
    "registry_dir",
    metavar="DIR",
    help="Directory of datasource profiles; overrides CONTENTCLOUD_REGISTRY.",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.version_option(package_name="contentcloud")
@click.pass_context
def cli(
    ctx: click.Context,
    mdstore_uri: str | None,
    index_uri: str | None,
    registry_dir: str | None,
    log_level: str,
) -> None:
    """contentcloud: collect, store, transform and provide metadata (a D-NET-style aggregator)."""
    from contentcloud.cli.output import configure_logging

    configure_logging(log_level)
    ctx.obj = {"mdstore": mdstore_uri, "index": index_uri, "registry": registry_dir}


def _root_examples() -> None:
    from contentcloud.cli.examples import examples_text

    cli.epilog = examples_text("")


_root_examples()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: a ``ContentcloudError`` becomes one line on stderr and an exit code."""
    from contentcloud.cli.exit_codes import error_line, exit_code_for_error
    from mdstore.errors import ContentcloudError

    try:
        cli.main(args=argv, prog_name="contentcloud", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ContentcloudError as exc:
        click.echo(error_line(exc), err=True)
        logging.getLogger(__name__).debug("error details", exc_info=True)
        sys.exit(exit_code_for_error(exc))
    except SystemExit:
        raise
    except sqlite3.DatabaseError as exc:  # a file the stores' own checks did not cover
        click.echo(
            f"error: an SQLite file is damaged or unusable ({exc}); run again with --log-level DEBUG to"
            " see which, then restore it from a backup or move it away",
            err=True,
        )
        logging.getLogger(__name__).debug("error details", exc_info=True)
        sys.exit(ExitCode.FAILED)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: the disk is full{where}: free space, then continue with --resume", err=True)
        sys.exit(ExitCode.RESUMABLE)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
