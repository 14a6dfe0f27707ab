"""The audit's checks of one epoch for one member.

:func:`audit_epoch` fills one :class:`~zkclear.audit.report.EpochRow`: the epoch's public
inputs (events, final prices, risk parameters) from :class:`~.chainview.MemberView`, the
member's report from its published ciphertext (checked against the on-chain commitment,
then decrypted if the key covers the epoch), the slot's clearing re-derived with the
engine's own per-slot rules (:func:`derive_slot`), and the accepted epoch's outcome
(:func:`check_outcome`) and proof (:func:`check_proof`) compared with it. Every mismatch
is a :class:`~zkclear.audit.report.Finding` on the row; the audit carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from zkclear.bounds import exit_data_length
from zkclear.clearing.auction import award_values
from zkclear.clearing.epoch import SlotFigures, TradeLossError, clear_slot
from zkclear.clearing.events import EpochEvents
from zkclear.clearing.instruments import Market
from zkclear.clearing.params import ParamsError, RiskParams
from zkclear.clearing.public import (
    PUBLIC_NAMES,
    PackingError,
    exit_challenge,
    exit_masks,
    exit_sum,
)
from zkclear.clearing.public import unpack as unpack_public
from zkclear.clearing.report import Report
from zkclear.clearing.waterfall import Layers
from zkclear.errors import ProofError, ZkclearError
from zkclear.field import BoundError, P
from zkclear.privacy.cipher import Ciphertext, DecryptionError, decrypt, decrypt_report
from zkclear.privacy.viewkeys import EpochKey, MemberKey

from .chainview import MemberView, hex32
from .report import EpochRow, Finding

__all__ = ["State", "audit_epoch", "check_outcome", "check_proof", "derive_slot"]

log = logging.getLogger(__name__)

#: ``finding(field, reason, expected, found, message)``: adds a Finding to the row.
FindingSink = Callable[[str, str, Any, Any, str], None]


def derive_slot(slot: int, collateral: int, positions: Sequence[int], report: Report,
                deposit: int, withdrawal: int, prices: Sequence[int],
                prices_prev: Sequence[int], params: RiskParams, *,
                house_ok: bool = True, market: Market | None = None,
                prev: Market | None = None, epoch: int | None = None, df: int = 0,
                df_scale: int = 0, layers: Layers | None = None,
                lot: Sequence[int] = (), bid: int = 0) -> SlotFigures:
    """Clear one member slot (``slot >= 1``) from its leaf before the epoch, its report and
    its public events: the engine's own per-slot function
    (:func:`zkclear.clearing.epoch.clear_slot`), so audit and engine cannot drift apart.
    Raises :class:`BoundError` / :class:`ParamsError` for values the epoch proof could
    never have accepted (out of bounds, over a position limit). ``market``/``prev``: the
    epoch's and the previous epoch's :class:`Market` (funding indices, the options' risk
    arrays) and ``epoch`` (the settled instruments), for pools beyond plain futures.
    The default fund: ``df`` (the slot's contribution before the epoch), ``df_scale``
    (the contract's dfScale the epoch was cleared with) and the epoch's published
    ``layers`` (``DefaultWaterfall``), from which a survivor's shares follow
    (:meth:`Layers.shares`); None: not published yet (no shares). ``lot``/``bid``: the
    house's lot and the bid, when the slot won the epoch's auction.
    """
    if slot < 1:
        raise ValueError("the house (slot 0) is not audited per member")
    live = (() if epoch is None else
            tuple(not ins.done(epoch) for ins in params.instruments))
    risk = (params.risk_matrix(prices, market.arrays, epoch) if market is not None
            else None)
    def clear(shares: tuple[int, int]) -> SlotFigures:
        return clear_slot(collateral, positions, report.delta, report.trade_cash, deposit,
                          withdrawal, prices, prices_prev, params, house_ok=house_ok,
                          funding=market.funding if market else (),
                          funding_prev=prev.funding if prev else (), live=live, risk=risk,
                          df=df, df_scale=df_scale, fund_share=shares[0], haircut=shares[1],
                          lot=lot, bid=bid)

    first = clear((0, 0))
    if layers is None or first.liquidated:
        return first
    shares = layers.shares(first.df_held, first.gain)
    return clear(shares) if any(shares) else first


def market_of(client: Any, epoch: int) -> Market:
    """An epoch's final market from the chain (genesis: the marks alone)."""
    return Market(client.final_prices(0)) if epoch == 0 else client.market(epoch)


@dataclass
class State:
    """The member's leaf as far as the audit knows it (None: unknown)."""

    collateral: int | None
    positions: tuple[int, ...] | None
    df: int | None = 0


def audit_epoch(row: EpochRow, chain: MemberView, state: State,
                prev: Market | None, member_key: MemberKey | None,
                epoch_key: EpochKey | None, vk: Any,
                lots: Mapping[int, Sequence[int]] | None = None) -> Market | None:
    """Fill ``row`` (epoch ``row.epoch`` of member ``chain.slot``) and advance ``state``;
    returns this epoch's market (None if unknown). ``vk``: re-verify the epoch's proof.
    ``lots``: epoch -> the house's lot the member won in it (what the operator showed it,
    checked here against the house's leaf in the previous epoch's exit data)."""
    client, slot = chain.client, chain.slot
    epoch, cfg = row.epoch, client.deployment.config
    m_count = cfg.n_instruments

    def finding(fld: str, reason: str, expected: Any, found: Any, message: str) -> None:
        row.findings.append(Finding(epoch, fld, reason,
                                    None if expected is None else str(expected),
                                    None if found is None else str(found), message))

    known = state.collateral is not None and state.positions is not None
    row.positions_before, row.collateral_before = state.positions, state.collateral

    # Public inputs: events, prices, parameters.
    per = None
    try:
        events = chain.events_of(epoch)
        per = EpochEvents.build(cfg, events).per_slot[slot]
    except ZkclearError as exc:
        finding("events", "events", None, None, f"the epoch's event log cannot be used: {exc}")
    closed = chain.closed.get(epoch)
    params = None
    if closed is not None:
        row.params_hash = int(closed["paramsHash"])
        try:
            params = chain.params_for(row.params_hash)
        except ParamsError as exc:
            finding("risk parameters", "params", hex32(row.params_hash), None, str(exc))
    market = None
    table = client.instruments()
    try:
        market = market_of(client, epoch)
        got = market.hash(table, cfg.n_scenarios, epoch)
        if got != client.prices_hash(epoch):
            finding("prices", "prices", hex32(client.prices_hash(epoch)), hex32(got),
                    "the oracle's final marks, funding and risk arrays do not hash to its "
                    "pricesHash")
    except ZkclearError as exc:
        market = None
        if epoch in chain.accepted:  # an epoch awaiting its prices is merely pending
            finding("prices", "prices", None, None, f"no final prices: {exc}")
    prices = market.prices if market is not None else None
    prev_prices = prev.prices if prev is not None else None
    row.prices_prev, row.prices = prev_prices, prices
    row.funding_index = market.funding if market is not None else None
    row.settled = tuple(m for m, ins in enumerate(table) if ins.expiry == epoch)

    report: Report | None = None
    if per is not None:
        row.registered = per.registered
        row.deposit, row.withdrawal_requested = per.deposit, per.withdrawal
        row.committed = per.commitment != 0
        row.excluded = epoch in chain.excluded
        if row.committed and row.excluded:
            finding("commitment", "excluded", None, hex32(per.commitment),
                    "the slot is both excluded and committed in this epoch")
        if row.committed:
            row.commitment = per.commitment
            report = _open_report(row, chain, per.commitment, m_count, member_key,
                                  epoch_key, finding)
        else:
            report = Report((0,) * m_count, 0, 0)
            row.disclosed = True  # nothing to disclose: no report this epoch
    if report is not None:
        row.delta, row.trade_cash = report.delta, report.trade_cash

    # The auction: the member's award needs the lot it took (private: the house's positions).
    row.award = chain.award(epoch)
    won: dict[str, Any] = {}
    if row.award is not None and row.award.winner == slot:
        lot = (lots or {}).get(epoch)
        if lot is None:
            known = False  # the lot is not known to this audit: not derivable from here on
        elif not chain.lot_opens(epoch - 1, lot):
            finding("lot", "lot", "the house's leaf after epoch " + str(epoch - 1),
                    str(tuple(lot)), "the lot given for the member's award does not open the "
                    "house's leaf in the previous epoch's exit data")
            known = False
        else:  # clear_slot drops the lot's settled instruments
            won = {"lot": tuple(lot), "bid": row.award.bid}

    # Re-derive the slot's clearing.
    figures = None
    df_scale = chain.df_scale(epoch)
    row.waterfall = chain.waterfalls.get(epoch)
    if (known and report is not None and per is not None and params is not None
            and prices is not None and prev_prices is not None and df_scale is not None
            and state.df is not None):
        assert state.collateral is not None and state.positions is not None
        # The pool rule of step 6: no grant while the house is negative after the epoch.
        house_c = chain.house_collateral(epoch) if epoch in chain.accepted else None
        try:
            figures = derive_slot(slot, state.collateral, state.positions, report,
                                  per.deposit, per.withdrawal, prices, prev_prices, params,
                                  house_ok=house_c is None or house_c >= 0, market=market,
                                  prev=prev, epoch=epoch, df=state.df, df_scale=df_scale,
                                  layers=row.waterfall, **won)
        except (BoundError, ParamsError, TradeLossError) as exc:
            finding("clearing", "bounds", None, None,
                    f"the decrypted report cannot have been cleared: {exc}")
    row.figures = figures

    # What the accepted epoch published.
    acc = chain.accepted.get(epoch)
    row.accepted = acc is not None
    if acc is not None:
        check_outcome(row, chain, acc, per, figures, finding)
        if vk is not None:
            check_proof(row, chain, acc, prev, market, vk, finding)
    if figures is not None:
        state.collateral, state.positions = figures.collateral_after, figures.positions_after
        state.df = figures.df_after
    else:
        state.collateral = state.positions = state.df = None

    if row.findings:
        row.status = "failed"
    elif not row.accepted:
        row.status = "pending"
    elif row.excluded and figures is not None:
        row.status = "excluded"
    elif figures is not None:
        row.status = "verified"
    elif row.committed and not row.disclosed:
        row.status = "not disclosed"
    else:
        row.status = "not derivable"
    log.debug("slot %d epoch %d: %s, %d finding(s)", slot, epoch, row.status,
              len(row.findings))
    return market


def _open_report(row: EpochRow, chain: MemberView, commitment: int, m_count: int,
                 member_key: MemberKey | None, epoch_key: EpochKey | None,
                 finding: FindingSink) -> Report | None:
    """The member's report of ``row.epoch``: checks the published ciphertext against the
    commitment (no key needed), then decrypts it if the key covers this epoch."""
    epoch, slot = row.epoch, chain.slot
    published = chain.reports.get(epoch, [])
    if len(published) != 1:
        finding("ciphertext", "missing" if not published else "duplicate", "1",
                str(len(published)), f"{len(published)} ReportCommitted logs for the slot's "
                "COMMIT event")
        if not published:
            return None
    log = published[0]
    if int(log["commitment"]) != commitment:
        finding("commitment", "mismatch", hex32(commitment), hex32(int(log["commitment"])),
                "ReportCommitted's commitment differs from the COMMIT event's value")
    try:
        ct = Ciphertext.from_bytes(bytes(log["ciphertext"]), m_count + 2)
    except DecryptionError as exc:
        finding("ciphertext", exc.reason, f"{7 + 32 * (m_count + 3)} bytes",
                f"{len(bytes(log['ciphertext']))} bytes",
                f"the published ciphertext is unusable: {exc}")
        return None
    if ct.commitment() != commitment:
        finding("ciphertext", "commitment", hex32(commitment), hex32(ct.commitment()),
                "the member published a ciphertext that is not the committed one (garbage "
                "bytes): the cleared report cannot be recovered from the chain")
        return None
    if member_key is not None:
        key: MemberKey | EpochKey = member_key
    elif epoch_key is not None and epoch_key.epoch == epoch:
        key = epoch_key
    else:
        return None  # not disclosed by this key
    try:
        report = decrypt_report(key, epoch, ct, m_count, slot=slot, commitment=commitment)
    except DecryptionError as exc:
        reason, message = exc.reason, str(exc)
        if reason == "tag" and isinstance(key, EpochKey):
            other = _opens_other_epoch(key, chain, epoch, m_count)
            if other is not None:
                reason = "wrong-epoch"
                message = (f"the epoch key labelled epoch {epoch} is the key of epoch "
                           f"{other} (it opens that epoch's ciphertext); each epoch key "
                           "opens its own epoch only")
        finding("decryption", reason, None, None, message)
        return None
    row.disclosed = True
    return report


def _opens_other_epoch(key: EpochKey, chain: MemberView, epoch: int, m_count: int) -> int | None:
    for e, logs in sorted(chain.reports.items()):
        if e == epoch:
            continue
        for log in logs:
            try:
                decrypt(key, Ciphertext.from_bytes(bytes(log["ciphertext"]), m_count + 2),
                        m_count + 2)
            except DecryptionError:
                continue
            return e
    return None


def _bit(mask: int, slot: int) -> bool:
    return bool((mask >> slot) & 1)


def check_outcome(row: EpochRow, chain: MemberView, acc: Any, per: Any,
                  figures: SlotFigures | None, finding: FindingSink) -> None:
    """The accepted epoch's public outcome for the slot, self-consistent and equal to the
    derived one."""
    epoch, slot = row.epoch, chain.slot
    args = acc["args"]
    liq_bit = _bit(int(args["liquidatedMask"]), slot)
    granted_bit = _bit(int(args["grantedMask"]), slot)
    row.onchain_liquidated, row.onchain_granted = liq_bit, granted_bit
    n_liq = chain.liquidated.get(epoch, 0)
    if n_liq != int(liq_bit):
        finding("liquidated", "events", f"{int(liq_bit)} Liquidated event(s)", str(n_liq),
                "the Liquidated events disagree with EpochAccepted's liquidatedMask")
    paid = chain.paid.get(epoch, [])
    refused = chain.refused.get(epoch, [])
    row.withdrawal_paid = int(paid[0]["amount"]) if paid else None
    row.withdrawal_refused = refused[0] if refused else None
    w = per.withdrawal if per is not None else None
    if w is not None:
        want_paid = [w] if granted_bit else []
        want_refused = [w] if w and not granted_bit else []
        if [int(p["amount"]) for p in paid] != want_paid:
            finding("withdrawal", "events", str(want_paid), str([int(p["amount"]) for p in paid]),
                    "WithdrawalPaid events disagree with the request and grantedMask")
        if refused != want_refused:
            finding("withdrawal", "events", str(want_refused), str(refused),
                    "WithdrawalRefused events disagree with the request and grantedMask")
        if granted_bit and not w:
            finding("withdrawal", "events", "no grant", "granted",
                    "grantedMask grants a withdrawal the member never requested")
        account = chain.registered[0]["account"] if chain.registered else None
        for p in paid:
            if account is not None and Web3.to_checksum_address(p["to"]) != \
                    Web3.to_checksum_address(account):
                finding("withdrawal", "recipient", account, p["to"],
                        "a withdrawal was paid to another account than the member's")
    if figures is None:
        return
    if figures.liquidated != liq_bit:
        finding("liquidated", "mismatch", figures.liquidated, liq_bit,
                f"the engine's rule gives liquidated={figures.liquidated} (equity "
                f"{figures.equity} vs maintenance margin {figures.maintenance_margin}); the "
                f"accepted epoch says {liq_bit}")
    if figures.withdrawal_granted != granted_bit:
        finding("withdrawal granted", "mismatch", figures.withdrawal_granted, granted_bit,
                f"the engine's rule gives granted={figures.withdrawal_granted} (equity "
                f"{figures.equity} - request {row.withdrawal_requested} vs initial margin "
                f"{figures.initial_margin}); the accepted epoch says {granted_bit}")


def check_proof(row: EpochRow, chain: MemberView, acc: Any, prev: Market | None,
                market: Market | None, vk: Any, finding: FindingSink) -> None:
    """Re-verify the epoch's Groth16 proof from the submitEpoch calldata with the Python
    verifier, and its public inputs against the public data the audit used."""
    from zkclear.verifier.groth16 import Proof, verify

    epoch, client = row.epoch, chain.client
    try:
        tx = client.w3.eth.get_transaction(acc["transactionHash"])
        fn, args = client.house.decode_function_input(tx["input"])
    except Exception as exc:  # a node without the transaction, or not a direct call
        finding("proof", "calldata", "submitEpoch calldata", None,
                f"cannot read the accepting transaction's calldata: {exc}")
        row.proof_verified = False
        return
    if fn.fn_name != "submitEpoch":
        finding("proof", "calldata", "submitEpoch", fn.fn_name,
                "the accepting transaction is not a direct submitEpoch call")
        row.proof_verified = False
        return
    pr, public = args["proof"], [int(x) for x in args["publicInputs"]]
    a, b, c = (pr["a"], pr["b"], pr["c"]) if isinstance(pr, Mapping) else pr
    try:
        proof = Proof.from_json({
            "protocol": "groth16", "curve": "bn128",
            "pi_a": [str(a[0]), str(a[1]), "1"],
            # calldata holds G2 coordinates as the precompile wants them: (c1, c0)
            "pi_b": [[str(b[0][1]), str(b[0][0])], [str(b[1][1]), str(b[1][0])], ["1", "0"]],
            "pi_c": [str(c[0]), str(c[1]), "1"]})
        ok = verify(vk, proof, public)
    except ProofError as exc:
        finding("proof", "proof", "a valid proof", None, f"malformed proof in calldata: {exc}")
        row.proof_verified = False
        return
    row.proof_verified = ok
    if not ok:
        finding("proof", "proof", "valid", "invalid",
                "the submitEpoch proof does not verify under the given verification key")
    closed = chain.closed.get(epoch, {})
    acc_args = acc["args"]
    table, k = client.instruments(), client.deployment.config.n_scenarios
    expect: dict[str, int | None] = {
        "oldRoot": int(acc_args["oldRoot"]), "newRoot": int(acc_args["newRoot"]),
        "epoch": epoch, "paramsHash": row.params_hash,
        "pricesPrevHash": prev.hash(table, k, epoch - 1) if prev else None,
        "pricesHash": market.hash(table, k, epoch) if market else None,
        "eventsAcc": int(closed["eventsAcc"]) if closed else None,
        "nEvents": int(closed["nEvents"]) if closed else None,
        "totalCollateral": int(acc_args["totalCollateral"]) % P,
        "dfScale": chain.df_scale(epoch),
        "dfScaleNext": chain.cover2[epoch][1] if epoch in chain.cover2 else None,
        "cover2Met": int(chain.cover2[epoch][0]) if epoch in chain.cover2 else None,
    }
    wf = chain.waterfalls.get(epoch)
    expect |= {"fundOwn": wf.own if wf else None, "fundHouse": wf.house if wf else None,
               "fundShared": wf.fund if wf else None, "fundHaircut": wf.haircut if wf else None,
               "fundBase": wf.fund_base if wf else None, "fundGains": wf.gains if wf else None}
    # The award the contract recorded at close (houseFlat and lotMM are the proof's own:
    # they only feed the next auction's reserve, LotBaseSet).
    expect |= {**award_values(chain.award(epoch)), "houseFlat": None, "lotMM": None}
    # The exit data in calldata: the challenge and sum the contract derived from it.
    exit_data = [int(x) for x in args.get("exitData", ())]
    rho = exit_challenge(epoch, int(acc_args["newRoot"]), exit_data)
    expect |= {"rho": rho, "exitSum": exit_sum(exit_data, rho)}
    # The masks are exit-data words: the ones EpochAccepted announced must be those the
    # proof bound (through exitSum).
    n = client.deployment.config.n_slots
    try:
        masks = exit_masks(exit_data, n)
    except PackingError as exc:
        finding("proof", "exit-data", f"{exit_data_length(n)} words", str(len(exit_data)),
                str(exc))
        return
    announced = (int(acc_args["liquidatedMask"]), int(acc_args["grantedMask"]))
    if masks != announced:
        finding("proof", "exit-data", f"masks={announced}", f"masks={masks}",
                "the exit data's liquidated and granted masks are not EpochAccepted's")
    try:
        values = unpack_public(public)
    except PackingError as exc:
        finding("proof", "public-input", f"{len(PUBLIC_NAMES)} public signals",
                str(len(public)), str(exc))
        return
    for name, value in values.items():
        want = expect[name]
        if want is not None and want != value:
            finding("proof", "public-input", f"{name}={hex32(want)}", f"{name}={hex32(value)}",
                    f"the proof's public input {name} is not the chain's")
