"""``--workers N`` of the commands that run a parted step (transform, index)."""

from __future__ import annotations

import os

import click


def default_workers() -> int:
    """One worker per core: a step's parts are CPU-bound (XSLT, document building)."""
    return os.cpu_count() or 1


workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="the number of cores",
    help="Run the step's id-range parts (the parts the DAG maps over) in this many worker processes; "
    "1 runs it in this process, in one part.",
)
