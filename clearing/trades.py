"""Trades, from the members' reports to the epoch's netted reports: the names of
:mod:`~zkclear.clearing.intake` (trade reports and bilateral matching),
:mod:`~zkclear.clearing.netting` (exact multilateral netting into per-slot reports) and
:mod:`~zkclear.clearing.rules` (the price band, rule R and excluded slots), in one place.

Members report the trades they did during an epoch; the operator matches the two sides
of every trade, rejects what it cannot match, refuses what the rules forbid, and nets the
accepted trades into one :class:`~zkclear.clearing.report.Report` per slot (``delta[M]``,
``tradeCash``). Each module's docstring states its part of the specification.
"""

from __future__ import annotations

from .intake import BUY as BUY
from .intake import MAX_PRICE as MAX_PRICE
from .intake import MAX_SIZE as MAX_SIZE
from .intake import SELL as SELL
from .intake import MatchedTrade as MatchedTrade
from .intake import MatchResult as MatchResult
from .intake import Reason as Reason
from .intake import Rejection as Rejection
from .intake import TradeError as TradeError
from .intake import TradeReport as TradeReport
from .intake import match_trades_reference as match_trades_reference
from .matching import match_trades as match_trades
from .netting import CHUNK as CHUNK
from .netting import MAX_TRADES as MAX_TRADES
from .netting import NettingBoundError as NettingBoundError
from .netting import NettingResult as NettingResult
from .netting import net as net
from .netting import net_columnar as net_columnar
from .netting import net_reference as net_reference
from .netting import reports_from_netting as reports_from_netting
from .rules import DEFAULT_BAND_BP as DEFAULT_BAND_BP
from .rules import RuleResult as RuleResult
from .rules import apply_rules as apply_rules
from .rules import changed_reports as changed_reports
from .rules import deposits_from_events as deposits_from_events
from .rules import equity_before_trades as equity_before_trades
from .rules import exclude_slots as exclude_slots
