"""Numeric bounds shared by the engine, the witness builder and the circuits.

All quantities are integers. Each signed quantity has a bit bound B (``-2^B <= x < 2^B``)
that the circuits enforce with ``SignedRange(B)`` and the Python side checks *before*
proving. The bounds are chosen so that no intermediate can wrap the BN254 scalar field
(r ~ 2^253.6): the largest value formed is a scenario loss, position x price x shock
summed over instruments: 2^48 * 2^48 * 2^16 * 2^8 = 2^120 < 2^LOSS_BITS.
See docs/protocol.md (Bounds) for the table.
"""

from __future__ import annotations

from zkclear.field import SignedRange

#: Position changes and positions, in lots.
DELTA_BITS = 48
#: Cash amounts (trade cash, collateral, deposits, withdrawals), in minor units.
CASH_BITS = 120
#: Prices in ticks (unsigned, 1 <= P < 2^PRICE_BITS).
PRICE_BITS = 48
#: Scenario price shocks in basis points (signed).
SHOCK_BITS = 16
#: Scenario losses are compared as signed values of this many bits.
LOSS_BITS = 122
#: Initial-margin factor in basis points: 10000 <= f < 2^IM_FACTOR_BITS.
IM_FACTOR_BITS = 16
#: Liquidation penalty in basis points of maintenance margin: 0 <= p <= 10000.
PENALTY_BITS = 14
#: Basis-point scale of shocks, factors and penalties.
BP = 10_000
#: Most instruments a pool may have (keeps losses below 2^LOSS_BITS).
MAX_INSTRUMENTS = 256
#: Most slots (a power of two): slot masks are uint256 on-chain, and the auction word's
#: winner field has WINNER_BITS bits.
MAX_SLOTS = 256
#: The liquidated and granted masks travel in the exit data (docs/protocol.md, "Freeze
#: and escape"), each as ceil(N / MASK_WORD_BITS) words of MASK_WORD_BITS bits (low slots
#: first), bound by the proof through the exit-data sum like the leaves.
MASK_WORD_BITS = 128
#: The exit-data challenge ``rho`` (docs/protocol.md, "Freeze and escape"): the top bits
#: of a keccak256 the contract computes; a wrong published exit data passes with
#: probability at most N / 2^RHO_BITS.
RHO_BITS = 100
#: ``epochInfo = epoch + nEvents * 2^EPOCH_BITS + totalCollateral * 2^(EPOCH_BITS +
#: N_EVENTS_BITS)``: one public field element for three values (docs/protocol.md).
EPOCH_BITS = 64
N_EVENTS_BITS = 16
TOTAL_BITS = 128

#: Default fund (docs/protocol.md, "Default fund, the loss waterfall and Cover-2"):
#: ``dfFloor`` and ``skinCap`` are unsigned cash amounts below 2^FUND_BITS; ``dfShareBp``,
#: ``stressBp`` and the contract's ``dfScale`` are basis points below 2^SCALE_BITS.
FUND_BITS = 112
SCALE_BITS = 16
#: A slot's contribution ``req = max(dfFloor, ceil(ST * s / BP))`` < 2^REQ_BITS
#: (MM < 2^109, ST < 2^112, s < 2^16).
REQ_BITS = 115
#: Each amount of a packed waterfall word (``layersA = O + hUse * 2^LAYER_BITS``, ...).
LAYER_BITS = 126
#: "Unlimited" skin in the game: the largest skinCap.
SKIN_UNLIMITED = (1 << FUND_BITS) - 1

DELTA = SignedRange(DELTA_BITS)
CASH = SignedRange(CASH_BITS)
SHOCK = SignedRange(SHOCK_BITS)
LOSS = SignedRange(LOSS_BITS)

assert 2 * DELTA_BITS + SHOCK_BITS + 8 <= LOSS_BITS - 2  # losses cannot reach the bound
assert LOSS_BITS + IM_FACTOR_BITS < 250  # MM * factor stays far from r
assert 2 * LAYER_BITS <= 252 and REQ_BITS + MAX_SLOTS.bit_length() <= LAYER_BITS
assert EPOCH_BITS + N_EVENTS_BITS + TOTAL_BITS < 253 and MASK_WORD_BITS < 253  # packing
assert 2 * SCALE_BITS + 1 + RHO_BITS <= 252  # fundInfo carries rho


def mask_words(n_slots: int, word_bits: int = MASK_WORD_BITS) -> int:
    """How many exit-data words carry one slot mask of a pool of ``n_slots`` slots."""
    return -(-n_slots // word_bits)


def exit_data_length(n_slots: int) -> int:
    """Words of an epoch's exit data: N leaves, the house's collateral, two masks."""
    return n_slots + 1 + 2 * mask_words(n_slots)


def exit_data_slots(length: int) -> int:
    """The pool size N of an epoch's exit data of ``length`` words (N leaves, the house's
    collateral, two masks of :func:`mask_words` words each); N is a power of two, so
    the length determines it. ValueError if no pool size has that length."""
    for k in range(1, MAX_SLOTS.bit_length()):
        n = 1 << k
        if exit_data_length(n) == length:
            return n
    raise ValueError(f"{length} words is not the exit data of any pool size")
