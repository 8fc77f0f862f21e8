"""Every command's ``--help`` as a reader sees it: a flag shows no value to give, and a
docstring's markup is rendered, not shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer import _click
from typer.testing import CliRunner

from service.cli import app


def _commands(command: _click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "exim-ledger")
def test_a_flag_shows_no_value_to_give(path: tuple[str, ...]):
    shown = _help(path)
    assert "--help" in shown
    assert "<bool>" not in shown


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "exim-ledger")
def test_help_shows_no_raw_markup(path: tuple[str, ...]):
    assert "``" not in _help(path)


def test_a_flag_that_takes_a_value_still_names_its_type():
    shown = _help(("verify",))
    assert "--deal-id" in shown and "<str>" in shown


def test_rebuild_help_reads_as_prose():
    shown = " ".join(_help(("rebuild",)).split())
    assert "swap them in; all rebuilds every projection in one pass" in shown
