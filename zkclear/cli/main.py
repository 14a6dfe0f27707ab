"""The ``zkclear`` command line: one entry point, a command group per role.

Each group lives in its own module next to its options (``zkclear/cli/member.py``,
``operator.py``, ``oracle.py`` ...); :mod:`zkclear.cli.params` holds the parameter types
that refuse a bad value before any work. Every command accepts ``--json`` (one JSON
object on stdout). Every error -- a bad argument, a user mistake, a tool failure or a bug
-- prints one line ``zkclear: error: ...`` on stderr (no traceback; ``--debug`` shows it)
and exits with status 2.

A new command goes into its role's module (or a new module with a ``COMMANDS`` list,
registered below), with a bad-input case in ``tests/cli/test_cli_bad_input.py``: that test
enumerates this application and fails for a command without one.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import click
from rich.markup import escape

from zkclear.cli import (
    audit,
    ceremony,
    circuits,
    demo,
    deploy,
    governance,
    member,
    oracle,
    risk,
    stress,
)
from zkclear.cli import operator as operator_cli
from zkclear.cli.output import err
from zkclear.cli.params import DEPLOYMENT_ENV, RPC_URL_ENV
from zkclear.errors import ZkclearError

PROG = "zkclear"


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib import metadata

    from zkclear import __version__

    try:
        version = metadata.version("zkclear")
    except metadata.PackageNotFoundError:  # run from a source tree
        version = __version__
    click.echo(f"{PROG} {version}")
    ctx.exit(0)


@click.group(PROG, no_args_is_help=False, epilog=(
    f"Environment: {RPC_URL_ENV} and {DEPLOYMENT_ENV} stand for --rpc-url and --deployment "
    "wherever a command takes them."),
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True,
                      "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="print the version and exit")
@click.option("--debug", is_flag=True, help="show the traceback of an error")
def cli(debug: bool) -> None:
    """zkclear: a zero-knowledge private clearing layer. Every command takes --json (one
    JSON object on stdout); errors are one line on stderr (--debug: the traceback)."""


for _module in (demo, circuits, ceremony, deploy, governance, oracle, risk, member,
                operator_cli, audit, stress):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def describe(exc: BaseException) -> str:
    """One line saying what went wrong (a ZkclearError's message is written for users)."""
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else PROG
        sub = where.removeprefix(PROG).strip()
        text = f"{sub + ': ' if sub else ''}{exc.format_message()} (see {where} --help)"
    elif isinstance(exc, click.ClickException):
        text = exc.format_message()
    elif isinstance(exc, ZkclearError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or "failed"


def _fail(exc: BaseException, as_json: bool, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    msg = describe(exc)
    err.print(f"{PROG}: [red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps({"ok": False, "error": msg, "type": type(exc).__name__}))
    return 2


def main(argv: list[str] | None = None) -> int:
    """The console entry point: run ``zkclear ARGV``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    words = argv[:argv.index("--")] if "--" in argv else argv
    debug, as_json = "--debug" in words, "--json" in words
    try:
        rv: Any = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.Abort:  # click's form of KeyboardInterrupt
        err.print("interrupted")
        return 130
    except Exception as exc:  # every error is one line (the traceback with --debug)
        return _fail(exc, as_json, debug)
    return int(rv or 0)


if __name__ == "__main__":
    sys.exit(main())
