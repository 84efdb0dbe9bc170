"""Every command's ``--help`` ends with at least one example, and the examples name real commands."""

from __future__ import annotations

import shlex

import click
import pytest

from contentcloud.cli import cli
from contentcloud.cli.examples import EXAMPLES
from tests.cli_runner import run_cli


def command_paths() -> list[str]:
    ctx = click.Context(cli)
    paths = []

    def walk(command: click.Command, path: list[str]) -> None:
        paths.append(" ".join(path))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(cli, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: p or "contentcloud")
def test_help_has_an_example(path):
    result = run_cli(*path.split(), "--help")
    assert result.exit_code == 0, result.output
    assert "\nExamples:\n" in result.output.replace("  Examples:", "Examples:")
    first_line, _ = EXAMPLES[path][0]
    assert first_line in result.output


def test_every_example_is_for_a_command_that_exists_and_parses():
    paths = set(command_paths())
    assert set(EXAMPLES) == paths
    ctx = click.Context(cli)
    for path, rows in EXAMPLES.items():
        for line, _ in rows:
            words = shlex.split(line.split("|")[0].split(">")[0])
            words = [w for w in words if "=" not in w or w.startswith("-")]  # VAR=value prefixes
            assert words[0] == "contentcloud", line
            # the command path of the example, skipping the group's options and their values
            command: click.Command = cli
            rest = words[1:]
            while isinstance(command, click.Group) and rest:
                if rest[0].startswith("-"):
                    rest = rest[2:]
                    continue
                command = command.get_command(ctx, rest[0])
                assert command is not None, line
                rest = rest[1:]
            options = {opt for param in command.params for opt in getattr(param, "opts", [])}
            for word in rest:
                if word.startswith("-"):
                    assert word in options, f"{line}: {word} is not an option of {path or 'contentcloud'}"
