"""Every exception class zkclear defines is a ZkclearError (so the CLI and the API answer
it with one line), and errors.py's docstring draws the whole tree as it is."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from zkclear import errors
from zkclear.errors import ZkclearError

#: The packages installed as zkclear (prover/, verifier/, clearing/ live beside zkclear/).
ROOTS = ("zkclear", "zkclear.clearing", "zkclear.prover", "zkclear.verifier")


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a zkclear module (every module is imported)."""
    names = set()
    for root in ROOTS:
        names.add(root)
        pkg = importlib.import_module(root)
        names |= {m.name for m in pkgutil.walk_packages(pkg.__path__, root + ".")}
    found: dict[str, type[BaseException]] = {}
    for name in sorted(names):
        for obj in vars(importlib.import_module(name)).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == name):
                found[f"{name}.{obj.__qualname__}"] = obj
    return list(found.values())


def draw(classes: list[type[BaseException]]) -> str:
    """The tree errors.py's docstring shows: public classes under their first
    ZkclearError base, with their module and any other base."""
    public = [c for c in classes if not c.__name__.startswith("_")]

    def parent(c: type) -> type | None:
        return next((b for b in c.__bases__ if issubclass(b, ZkclearError)), None)

    lines: list[str] = []

    def walk(c: type, lead: str, branch: str) -> None:
        others = [b.__name__ for b in c.__bases__ if b is not parent(c)]
        also = f"; also {', '.join(others)}" if others and c is not ZkclearError else ""
        label = f"{lead}{branch}{c.__name__}"
        lines.append(f"{label:<34}{c.__module__.removeprefix('zkclear.')}{also}")
        kids = sorted((k for k in public if parent(k) is c), key=lambda k: k.__name__)
        for i, k in enumerate(kids):
            last = i == len(kids) - 1
            nxt = lead + ("" if not branch else ("    " if branch == "└── " else "│   "))
            walk(k, nxt, "└── " if last else "├── ")

    walk(ZkclearError, "", "")
    return "\n".join(lines)


def test_every_exception_is_a_zkclear_error() -> None:
    classes = exception_classes()
    assert len(classes) > 30  # the walk found the package
    stray = [f"{c.__module__}.{c.__qualname__}" for c in classes
             if not issubclass(c, ZkclearError)]
    assert stray == [], f"derive these from ZkclearError (or a branch of it): {stray}"


def test_errors_docstring_draws_the_tree() -> None:
    tree = draw(exception_classes())
    doc = "\n".join(line.strip() for line in (errors.__doc__ or "").splitlines())
    assert "\n".join(line.strip() for line in tree.splitlines()) in doc, (
        "errors.py's docstring must draw the exception tree; paste this:\n" + tree)


def test_errors_pickle_with_their_message_and_fields() -> None:
    """A proving job's error crosses from a Ray worker to the driver by pickle, whatever
    the class's __init__ takes."""
    import pickle

    from zkclear.errors import ToolError, WitnessError
    from zkclear.field import BoundError
    from zkclear.operator.errors import ServiceError

    for exc in (WitnessError("epoch", "Assert Failed", "Num2Bits", 12),
                ToolError("prove", "epoch", "boom", "try again"),
                BoundError("cash", 2**70, 64), ServiceError("not_netted", "no", 409)):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert vars(back) == vars(exc)
