"""Gas limits the client sets itself: ``submitEpoch`` (the verifier answers false, not
revert, when starved, so it always gets an explicit, generous limit) and the extra gas a
``closeEpoch`` with posted deposits gets per deposit."""

from __future__ import annotations

from collections.abc import Sequence

from zkclear import bounds
from zkclear.verifier.onchain import verify_gas_limit

#: Gas for submitEpoch besides the verifier: checks, oracle reads, storage, events, the
#: reserves check (measured ~90k; twice that), plus per granted withdrawal (a token
#: transfer to a possibly new holder) and per liquidated or refused slot (an event).
SUBMIT_BASE_GAS = 200_000
SUBMIT_GAS_PER_PAYOUT = 60_000
SUBMIT_GAS_PER_SLOT_EVENT = 5_000
#: Per word of exit data: calldata, a check and a mulmod/addmod step.
SUBMIT_GAS_PER_EXIT_WORD = 1_500


#: The ClearingHouse's PULL_GAS: the gas each posted deposit's token pull is given. A
#: close with deposits gets it once more per deposit on top of its estimate, so a token
#: callback that spends more when it runs than when it was estimated (up to its cap)
#: cannot run the close out of gas.
PULL_GAS = 100_000


def submit_gas_limit(public: Sequence[int], exit_data: Sequence[int]) -> int:
    """The explicit gas limit of a submitEpoch transaction for these public inputs and
    exit data (generous: a granted withdrawal is one transfer, a liquidated or refused
    slot one event; refusals are not in the inputs: allow N). The masks are the exit
    data's words after the leaves and the house's collateral."""
    try:
        n = bounds.exit_data_slots(len(exit_data))
    except ValueError:  # refused by the contract by name; allow the largest pool
        n = bounds.MAX_SLOTS
    marked = sum(int(x).bit_count() for x in exit_data[n + 1:])  # liquidated + granted
    return (verify_gas_limit(len(public)) + SUBMIT_BASE_GAS + SUBMIT_GAS_PER_PAYOUT * marked
            + SUBMIT_GAS_PER_SLOT_EVENT * (marked + n)
            + SUBMIT_GAS_PER_EXIT_WORD * len(exit_data))
