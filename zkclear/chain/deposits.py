"""The operator's check of a member's signed deposit before it posts it with closeEpoch
(docs/protocol.md, "Deposits").

closeEpoch refuses the whole close for what the operator controls (a slot out of range or
not active, an amount out of range, a slot twice, a signature that is not the slot
account's over this epoch, slot and amount) and skips, with ``DepositSkipped``, what the
member controls after signing (its allowance or balance, a direct deposit of the slot in
the same epoch). :func:`check_signed_deposit` refuses all of it up front, so a close
posts only deposits that would be taken at the time of the check.
"""

from __future__ import annotations

from collections.abc import Collection

from zkclear import bounds
from zkclear.chain.client import Client, ContractError, SignedDeposit
from zkclear.chain.orders import CommitRefused


def check_signed_deposit(client: Client, signed: SignedDeposit,
                         taken: Collection[int] = ()) -> None:
    """Refuse (:class:`CommitRefused`) a signed deposit closeEpoch would refuse or skip
    now; ``taken``: the slots whose deposit the operator already keeps for this close."""
    slot, amount = signed.slot, signed.amount
    epoch = client.open_epoch()
    if signed.epoch != epoch:
        raise CommitRefused(f"slot {slot}: a deposit signed for epoch {signed.epoch}, not "
                            f"the open epoch {epoch}")
    if not 0 < amount < 1 << bounds.CASH_BITS:
        raise CommitRefused(f"slot {slot}: deposit amount {amount} is out of range "
                            f"(0 < amount < 2^{bounds.CASH_BITS})")
    n = client.deployment.config.n_slots
    if not 0 <= slot < n:
        raise CommitRefused(f"slot {slot} is not a slot of this pool (0..{n - 1})")
    if slot in taken or client.deposit_of(epoch, slot):
        raise CommitRefused(f"slot {slot} already deposited in epoch {epoch}")
    account = client.account_of_slot(slot)
    try:
        active = client.slot_of(account) == slot
    except ContractError:
        active = False
    if not active:
        raise CommitRefused(f"slot {slot} is not an active member's")
    try:
        signer = client.deposit_signer(signed)
    except Exception:
        raise CommitRefused(f"slot {slot}: the deposit signature does not parse") from None
    if signer.lower() != account.lower():
        raise CommitRefused(f"slot {slot}: the deposit is not signed by the slot's account "
                            f"for epoch {epoch}")
    if min(client.allowance(account), client.balance(account)) < amount:
        raise CommitRefused(f"slot {slot}: the allowance or balance of {account} is below "
                            f"{amount}")


def sign_deposit(client: Client, account: str, slot: int, amount: int) -> SignedDeposit:
    """``account`` (one of the node's, the slot's) signs a deposit of ``amount`` in the
    open epoch, granting the clearing house a standing allowance first (approve once) if
    the current one is short."""
    if client.allowance(account) < amount:
        client.approve(2**256 - 1, sender=account)
    return client.sign_deposit_as(account, client.open_epoch(), slot, amount)
