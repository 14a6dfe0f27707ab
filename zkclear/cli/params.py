"""The parser's vocabulary: parameter types that refuse a bad value before any work is
done (numbers within the protocol's bounds, prices, addresses, hex, URLs, files that must
exist), the options several commands share (the chain, ``ZKCLEAR_RPC_URL`` and
``ZKCLEAR_DEPLOYMENT``), and :func:`command`, which makes a function a command with
``--json`` and ``--debug`` and checks its mutually exclusive options."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from zkclear import bounds
from zkclear.cli.output import Output
from zkclear.field import P
from zkclear.prover.ptau import MAX_DEV_POWER

F = TypeVar("F", bound=Callable[..., Any])
Ctx = click.Context | None
Param = click.Parameter | None

RPC_URL_ENV = "ZKCLEAR_RPC_URL"
DEPLOYMENT_ENV = "ZKCLEAR_DEPLOYMENT"
U64 = 2**64 - 1


def _show(n: int) -> str:
    return f"2^{n.bit_length()}-1" if n > 10**6 and (n + 1) & n == 0 else str(n)


# -- numbers --------------------------------------------------------------------------------

class Int(click.IntRange):
    """An integer in ``lo..hi`` (decimal, or hex with 0x), named in its error message."""

    def __init__(self, lo: int, hi: int, what: str, metavar: str = "INTEGER",
                 shown_max: str | None = None) -> None:
        super().__init__(lo, hi)
        self.lo, self.hi = lo, hi  # click's min and max, typed as optional floats
        self.what, self.shown_max, self.name = what, shown_max or _show(hi), metavar

    def convert(self, value: Any, param: Param, ctx: Ctx) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            text = str(value).strip()
        try:
            v = int(text, 0) if text.lower().startswith("0x") else int(text)
        except ValueError:
            self.fail(f"{self.what} expected, got {text!r}", param, ctx)
        if not self.lo <= v <= self.hi:
            shown = text if len(text) <= 24 else text[:20] + "..."
            self.fail(f"{shown!r} is out of range: {self.what} in {self.min}..{self.shown_max}",
                      param, ctx)
        return v

    def _describe_range(self) -> str:
        return f"{self.min}<=x<={self.shown_max}"


class Float(click.FloatRange):
    """A finite number >= ``lo``."""

    def __init__(self, lo: float, what: str, metavar: str = "SECONDS") -> None:
        super().__init__(min=lo)
        self.lo, self.what, self.name = lo, what, metavar

    def convert(self, value: Any, param: Param, ctx: Ctx) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{self.what} expected, got {value!r}", param, ctx)
        if not (v >= self.lo and math.isfinite(v)):
            self.fail(f"{value!r} is out of range: {self.what} >= {self.lo}", param, ctx)
        return v


EPOCH = Int(0, U64, "an epoch number", "EPOCH")
PROPOSAL = Int(0, U64, "a proposal id", "ID")
MEMBER_SLOT = Int(1, bounds.MAX_SLOTS - 1, "a member slot", "SLOT")  # slot 0 is the house
ANY_SLOT = Int(0, bounds.MAX_SLOTS - 1, "a slot", "SLOT")
AMOUNT = Int(1, 2**bounds.CASH_BITS - 1, "an amount", "AMOUNT")
#: A mark: a price, or an option's premium, which may be 0 (the oracle refuses 0 for
#: anything but an option).
PRICE = Int(0, 2**bounds.PRICE_BITS - 1, "a price in ticks", "TICKS")
FUNDING = Int(-(2**bounds.PRICE_BITS - 1), 2**bounds.PRICE_BITS - 1,
              "a funding amount in ticks per lot", "TICKS")
FIELD_ELEMENT = Int(0, P - 1, "a field element", "FIELD", shown_max="p-1")
DEV_POWER = Int(1, MAX_DEV_POWER, "a development ptau power", "POWER")
PORT = Int(0, 65535, "a TCP port", "PORT")
SECONDS = Float(0, "seconds")


class IntList(click.ParamType):
    """Comma-separated integers, one per instrument, each checked by ``item``."""

    def __init__(self, item: click.ParamType, name: str) -> None:
        self.item, self.name = item, name

    def convert(self, value: Any, param: Param, ctx: Ctx) -> list[int]:
        if isinstance(value, list):
            return value
        return [self.item.convert(x, param, ctx) for x in str(value).split(",")]


def Prices() -> IntList:
    """Comma-separated price ticks, one per instrument."""
    return IntList(PRICE, "P1,P2,...")


def Funding() -> IntList:
    """Comma-separated signed funding amounts per lot, one per instrument."""
    return IntList(FUNDING, "F1,F2,...")


class Venue(click.ParamType):
    """``NAME=P1,P2,...``: one venue's prices."""

    name = "NAME=P1,P2,..."

    def convert(self, value: Any, param: Param, ctx: Ctx) -> tuple[str, list[int]]:
        if isinstance(value, tuple):
            return value
        name, sep, values = str(value).partition("=")
        if not sep or not name.strip():
            self.fail(f"NAME=P1,P2,... expected, got {value!r}", param, ctx)
        return name.strip(), Prices().convert(values, param, ctx)


class CircuitParam(click.ParamType):
    """``NAME=INT``: a circuit size parameter, 1..65535."""

    name = "NAME=INT"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        k, sep, v = str(value).partition("=")
        if not sep or not v.lstrip("-").isdigit():
            self.fail(f"--param takes NAME=INT, got {value!r}", param, ctx)
        if not 0 < int(v) < 2**16:
            self.fail(f"--param {k}: {v} is out of range 1..65535", param, ctx)
        return k, int(v)


# -- words ----------------------------------------------------------------------------------

class Pattern(click.ParamType):
    """A string matching a regular expression; returned as given (stripped)."""

    def __init__(self, regex: str, what: str, metavar: str, echo: bool = True) -> None:
        self.regex, self.what, self.name, self.echo = re.compile(regex), what, metavar, echo

    def convert(self, value: Any, param: Param, ctx: Ctx) -> str:
        text = str(value).strip()
        if not self.regex.fullmatch(text):
            self.fail(f"{self.what} expected" + (f", got {value!r}" if self.echo else ""),
                      param, ctx)
        return text


ADDRESS = Pattern(r"0x[0-9a-fA-F]{40}", "an address (0x + 40 hex)", "ADDRESS")
HEX = Pattern(r"(0x)?([0-9a-fA-F]{2})+", "an even-length hex string", "HEX")
BEACON = Pattern(r"(0x)?([0-9a-fA-F]{2}){1,255}", "an even-length hex string of 1..255 bytes",
                 "HEX")
PUBLIC_KEY = Pattern(r"(0x)?[0-9a-fA-F]{64}", "a public key (0x + 64 hex)", "HEX")
PRIVATE_KEY = Pattern(r"(0x)?[0-9a-fA-F]{64}", "a private key (0x + 64 hex)", "HEX",
                      echo=False)  # never echo a key
URL = Pattern(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL", "URL")
RAY_ADDRESS = Pattern(r"(ray://)?[\w.\-]+:\d{1,5}|(ray://)?\[[0-9a-fA-F:]+\]:\d{1,5}|auto",
                      "a Ray cluster address (HOST:PORT, ray://HOST:PORT or auto)", "ADDRESS")


class Checked(click.ParamType):
    """A string that ``check`` accepts (else it raises ValueError or a ZkclearError saying
    why); the value is returned as given."""

    def __init__(self, check: Callable[[str], object], metavar: str) -> None:
        self.check, self.name = check, metavar

    def convert(self, value: Any, param: Param, ctx: Ctx) -> str:
        from zkclear.errors import ZkclearError

        try:
            self.check(str(value))
        except (ValueError, ZkclearError) as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


def _pool_id(text: str) -> object:
    from zkclear.chain.contracts import parse_pool_id

    return parse_pool_id(text)


def _db_url(text: str) -> object:
    from zkclear.operator.store import check_url

    return check_url(text)  # a sqlite URL whose directory exists (nothing is created)


POOL_ID = Checked(_pool_id, "CHAIN:ADDRESS")
DB_URL = Checked(_db_url, "URL")


class Named(click.ParamType):
    """One of a registry's names (read when a value comes, so the registry is imported
    only then); ``extra`` names are accepted too (``all``)."""

    name = "NAME"

    def __init__(self, what: str, names: Callable[[], Iterable[str]],
                 extra: Sequence[str] = ()) -> None:
        self.what, self.names, self.extra = what, names, tuple(extra)

    def convert(self, value: Any, param: Param, ctx: Ctx) -> str:
        known = sorted(self.names())
        if value not in (*known, *self.extra):
            more = "".join(f" or {e}" for e in self.extra)
            self.fail(f"unknown {self.what} {value!r}; known: {', '.join(known)}{more}",
                      param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in (*sorted(self.names()), *self.extra)
                if n.startswith(incomplete)]


def _circuits() -> Iterable[str]:
    from zkclear.prover import registry

    return registry.CIRCUITS


def _drills() -> Iterable[str]:
    from zkclear import drills

    return drills.DRILLS


CIRCUIT = Named("circuit", _circuits)
DRILL = Named("drill", _drills, extra=("all",))


# -- files ----------------------------------------------------------------------------------

class Existing(click.Path):
    """A file (or folder) that must exist; its errors say what it was for."""

    def __init__(self, what: str, folder: bool = False) -> None:
        super().__init__(exists=True, file_okay=not folder, dir_okay=folder, readable=True)
        self.what = what

    def fail(self, message: str, param: Param = None, ctx: Ctx = None) -> Any:
        super().fail(f"cannot read {self.what}: {message}", param, ctx)


class TradeListFile(Existing):
    """A trade-list file (``zkclear.schemas.TradeList``: the bare list or ``{"trades": ...}``);
    the value is the checked :class:`TradeList`, errors name the field path."""

    def __init__(self) -> None:
        super().__init__("the trade list")

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Any:
        from zkclear.errors import ZkclearError
        from zkclear.schemas import TradeList

        if isinstance(value, TradeList):
            return value
        path = os.fsdecode(super().convert(value, param, ctx))
        try:
            return TradeList.load(path)
        except ZkclearError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None


def load_deployment(path: str) -> Any:
    """The :class:`~zkclear.chain.contracts.Deployment` in ``path``; else one error line."""
    from zkclear.chain.contracts import Deployment
    from zkclear.errors import ZkclearError

    try:
        return Deployment.load(Path(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"bad content ({exc!r})"
        raise ZkclearError(f"cannot read the deployment file {path}: {why}") from exc


# -- shared options -------------------------------------------------------------------------

#: ``--key`` and ``--from`` both name the signing account: at most one of them.
SIGNER = [("key", "from_account")]


def rpc_url_option(required: bool = True, help: str = "JSON-RPC URL of the chain"
                   ) -> Callable[[F], F]:
    return click.option("--rpc-url", type=URL, required=required, envvar=RPC_URL_ENV,
                        show_envvar=True, help=help)


def deployment_option(required: bool = True, help: str = "deployment JSON file"
                      ) -> Callable[[F], F]:
    return click.option("--deployment", type=Existing("the deployment file"),
                        required=required, envvar=DEPLOYMENT_ENV, show_envvar=True, help=help)


def signer_options(fn: F) -> F:
    """``--key FILE`` or ``--from ADDRESS``: who sends the transactions."""
    fn = click.option("--from", "from_account", type=ADDRESS, metavar="ADDRESS",
                      help="send from this unlocked account of the node instead")(fn)
    return click.option("--key", type=Existing("the key file"), metavar="FILE",
                        help="zkclear-eth-key-v1 file: sign locally (real nodes); "
                        "default: the node's first unlocked account")(fn)


#: ``--ray`` and ``--workers`` both choose the distributed prover: at most one of them.
PROVER = [("ray", "workers")]


def prover_options(fn: F) -> F:
    """``--ray ADDRESS`` or ``--workers N``: prove on Ray (default: in this process)."""
    fn = click.option("--workers", type=Int(1, 4096, "a number of workers", "N"),
                      help="prove on a local Ray started with N workers (one proof each "
                      "at a time)")(fn)
    return click.option("--ray", type=RAY_ADDRESS,
                        help="prove on the Ray cluster at ADDRESS: HOST:PORT of its head "
                        "node, ray://HOST:PORT of a Ray Client server, or auto "
                        "(docs/operator.md)")(fn)


def chain_options(fn: F) -> F:
    """``--rpc-url``, ``--deployment``, ``--key``, ``--from``."""
    return rpc_url_option()(deployment_option()(signer_options(fn)))


def circuit_args(fn: F) -> F:
    """``CIRCUIT [--param NAME=INT ...]``."""
    fn = click.option("--param", "params", type=CircuitParam(), multiple=True,
                      help="circuit size parameter, e.g. --param instruments=4")(fn)
    return click.argument("circuit", type=CIRCUIT,
                          help="circuit name (see `zkclear circuit list`)")(fn)


# -- commands -------------------------------------------------------------------------------

def group(name: str, help: str) -> click.Group:
    """A command group; without a subcommand it is a usage error (one line)."""
    return click.Group(name, help=help, no_args_is_help=False)


def _given(value: Any) -> bool:
    return value not in (None, False, ())


def _check_exclusive(ctx: click.Context, kw: dict[str, Any],
                     one_of: Sequence[Sequence[str]],
                     not_both: Sequence[Sequence[str]]) -> None:
    flags = {p.name: p.opts[0] for p in ctx.command.params if p.opts}
    for names, required in [*((n, True) for n in one_of), *((n, False) for n in not_both)]:
        given = [n for n in names if _given(kw.get(n))]
        if len(given) > 1:
            raise click.UsageError(f"argument {flags[given[1]]}: not allowed with argument "
                                   f"{flags[given[0]]}", ctx)
        if required and not given:
            raise click.UsageError("one of the arguments "
                                   f"{' '.join(flags[n] for n in names)} is required", ctx)


def command(parent: click.Group | None, name: str, help: str, *,
            one_of: Sequence[Sequence[str]] = (),
            not_both: Sequence[Sequence[str]] = ()) -> Callable[[Callable[..., int]],
                                                                click.Command]:
    """Make ``fn(out, **options) -> exit status`` a command named ``name`` (added to
    ``parent``), with ``--json`` and ``--debug``. ``one_of``: groups of options of which
    exactly one is given; ``not_both``: groups of which at most one is."""
    def deco(fn: Callable[..., int]) -> click.Command:
        def callback(as_json: bool, debug: bool, **kw: Any) -> int:
            _check_exclusive(click.get_current_context(), kw, one_of, not_both)
            return int(fn(Output(as_json), **kw))

        callback.__doc__ = fn.__doc__
        # click collects a command's options in this function attribute (its decorators do)
        callback.__click_params__ = [  # type: ignore[attr-defined]
            click.Option(["--debug"], is_flag=True, help="show the traceback of an error"),
            click.Option(["--json", "as_json"], is_flag=True,
                         help="print one JSON object on stdout"),
            *getattr(fn, "__click_params__", ())]
        cmd = click.command(name, help=help)(callback)
        if parent is not None:
            parent.add_command(cmd)
        return cmd
    return deco
