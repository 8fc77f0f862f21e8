"""Help that shows no type after a flag: a flag takes no value, so ``--json <bool>`` (typer's
default for every flag, ``--help`` too) would ask for one."""

from __future__ import annotations

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup, TyperOption


def _plain(params: list[_click.Parameter]) -> list[_click.Parameter]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # shown in place of the type
    return params


class PlainFlagsCommand(TyperCommand):
    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _plain(super().get_params(ctx))


class PlainFlagsGroup(TyperGroup):
    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _plain(super().get_params(ctx))


def plain_flags(*apps: typer.Typer) -> None:
    """Every command of ``apps`` shows its flags without a type."""
    for app in apps:
        for command in app.registered_commands:
            if command.cls in (None, TyperCommand):
                command.cls = PlainFlagsCommand
