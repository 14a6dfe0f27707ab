"""``zkclear stress``: price paths run through the engine's own margin, liquidation,
default-fund and waterfall rules (docs/stress.md).

:mod:`.inputs` reads the pool (or one member's portfolio) and the price paths,
:mod:`.generator` draws Monte Carlo paths (GARCH(1,1), correlated Student-t),
:mod:`.run` runs every path at once with the engine's exact margin
(:func:`zkclear.clearing.margin.portfolio_margins`) and replays a path slot by slot
through :func:`zkclear.clearing.epoch.clear_slot` and the engine's pool-wide step (the
reference), :mod:`.summary` turns
a run into the report's JSON document and :mod:`.html` into its page.
"""

from .generator import Garch, generate_paths, price_paths
from .inputs import (
    StressError,
    StressInputError,
    StressPool,
    load_member,
    load_paths,
    load_pool,
    windows,
)
from .run import LAYERS, Replay, StressResult, check_replay, replay_path, run, run_replay
from .summary import report

__all__ = [
    "LAYERS",
    "Garch",
    "Replay",
    "StressError",
    "StressInputError",
    "StressPool",
    "StressResult",
    "check_replay",
    "generate_paths",
    "load_member",
    "load_paths",
    "load_pool",
    "price_paths",
    "replay_path",
    "report",
    "run",
    "run_replay",
    "windows",
]
