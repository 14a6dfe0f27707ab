"""Numeric bounds shared by the engine, the witness builder and the circuits.

All quantities are integers. Each signed quantity has a bit bound B (``-2^B <= x < 2^B``)
that the circuits enforce with ``SignedRange(B)`` and the Python side checks *before*
proving. The bounds are chosen so that no intermediate can wrap the BN254 scalar field
(r ~ 2^253.6): the largest product formed is a position times a price times a scenario
shock, 2^48 * 2^48 * 2^24 = 2^120, summed over at most 2^8 instruments = 2^128.
"""

from __future__ import annotations

from zkclear.field import SignedRange

#: Position changes and positions, in lots.
DELTA_BITS = 48
#: Cash amounts (trade cash, collateral, deposits), in minor units.
CASH_BITS = 96

DELTA = SignedRange(DELTA_BITS)
CASH = SignedRange(CASH_BITS)
