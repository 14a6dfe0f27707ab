"""``zkclear stress``: price paths run through the engine's own margin and liquidation
rules (docs/stress.md).

:mod:`.inputs` reads the pool (or one member's portfolio) and the price paths,
:mod:`.generator` draws Monte Carlo paths (GARCH(1,1), correlated Student-t),
:mod:`.run` runs every path at once with the engine's exact margin
(:func:`zkclear.clearing.margin.portfolio_margins`) and replays a path slot by slot
through :func:`zkclear.clearing.epoch.clear_slot` (the reference), :mod:`.summary` turns
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
from .run import (
    Defaults,
    Resources,
    StressResult,
    Waterfall,
    check_replay,
    house_absorbs,
    replay_path,
    run,
)
from .summary import report

__all__ = [
    "Defaults",
    "Garch",
    "Resources",
    "StressError",
    "StressInputError",
    "StressPool",
    "StressResult",
    "Waterfall",
    "check_replay",
    "generate_paths",
    "house_absorbs",
    "load_member",
    "load_paths",
    "load_pool",
    "price_paths",
    "replay_path",
    "report",
    "run",
    "windows",
]
