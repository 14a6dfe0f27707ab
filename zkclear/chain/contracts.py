"""Build and deploy zkclear's contracts (``contracts/``) on any EVM web3 reaches.

The system (see ``contracts/ClearingHouse.sol`` for the epoch rules):

* ``Poseidon1`` .. ``Poseidon6``: circomlib's Poseidon(n) as EVM bytecode on circomlib's
  optimised schedule (:mod:`zkclear.chain.poseidon_evm`; one to three stage contracts each,
  ~2-3x cheaper than circomlibjs's generated contracts, which stay the reference:
  ``poseidon_code``). Checked against :mod:`zkclear.poseidon` right after deployment,
  arity by arity.
* ``Governance``: the M-of-N multisig with a time-lock; it is the only caller allowed to
  change members, risk parameters, oracle reporters/limits and the operator.
* ``TestCollateral``: an ERC-20 for tests and the demo (or an existing token's address).
* ``PriceOracle``: reporters, odd quorum, median, circuit breaker and staleness; funding
  of perpetuals, expiry rules, the options' risk round; genesis prices final; bound to the
  ClearingHouse right after that is deployed (it prices only the epochs the house is
  working on).
* ``EpochVerifier``: the Groth16 verifier generated from the epoch circuit's zkey
  (:mod:`zkclear.verifier.onchain`, which refuses insecure keys on non-local chains).
* ``ClearingHouse``: registry, custody, the events accumulator, ``submitEpoch``.
* ``LotAuction``: the sealed-bid auction of the house's lot, created by the clearing
  house's constructor (its address is ``ClearingHouse.auction()``).

What a deployment fixes (:class:`PoolSetup`) and where it lives (:class:`Deployment`, its
file) are :mod:`zkclear.chain.deployment`, re-exported here.

The instrument table (docs/protocol.md, "Instruments") is fixed at deployment: it is
the risk parameters' (``RiskParams.instruments``, all plain futures unless given), passed
to both the oracle and the clearing house (which refuses an oracle with another table)
as :func:`instrument_tuple` rows.

Every source under ``contracts/`` is compiled in one solc job with the pinned solc
(:mod:`zkclear.chain.artefacts`, which also holds every ABI; its names ``build``,
``sources``, ``abis``, ``poseidon_code`` ... are still importable from here). Constants
mirrored by name between Solidity (``base/Constants.sol``) and Python are read back from
the deployed contracts and compared (:func:`check_constants`); so are the genesis root,
the paramsHash, the genesis markHash and pricesHash and the instrument table, which the
contracts compute or hold themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from zkclear import bounds
from zkclear.chain import poseidon_evm
from zkclear.chain.artefacts import POSEIDON_ARITIES, build
from zkclear.chain.artefacts import POSEIDON_SCRIPT as POSEIDON_SCRIPT
from zkclear.chain.artefacts import SOURCES_DIR as SOURCES_DIR
from zkclear.chain.artefacts import PoseidonCode as PoseidonCode
from zkclear.chain.artefacts import abis as abis
from zkclear.chain.artefacts import poseidon_code as poseidon_code
from zkclear.chain.artefacts import sources as sources
from zkclear.chain.deployment import DEFAULT_AUCTION_RESERVE_BP as DEFAULT_AUCTION_RESERVE_BP
from zkclear.chain.deployment import DEFAULT_AUCTION_WINDOW as DEFAULT_AUCTION_WINDOW
from zkclear.chain.deployment import DEFAULT_MAX_FUNDING_BP as DEFAULT_MAX_FUNDING_BP
from zkclear.chain.deployment import DEFAULT_WITHDRAWAL_TIMEOUT as DEFAULT_WITHDRAWAL_TIMEOUT
from zkclear.chain.deployment import POSEIDON_NAMES as POSEIDON_NAMES
from zkclear.chain.deployment import SYSTEM as SYSTEM
from zkclear.chain.deployment import Deployment, DeploymentError, PoolSetup
from zkclear.chain.deployment import parse_pool_id as parse_pool_id
from zkclear.chain.deployment import pool_id as pool_id
from zkclear.chain.reverts import raise_decoded
from zkclear.chain.solidity import CompiledContract
from zkclear.clearing import auction
from zkclear.clearing.events import Kind
from zkclear.clearing.instruments import Instrument, InstrumentError, mark_hash
from zkclear.clearing.instruments import Kind as InstrumentKind
from zkclear.clearing.params import PoolConfig, prices_hash
from zkclear.clearing.state import HOUSE
from zkclear.field import P
from zkclear.poseidon import MAX_INPUTS, poseidon
from zkclear.prover.registry import EPOCH_PUBLIC

#: The contracts' instrument kind codes (``INSTRUMENT_*`` in base/Constants.sol).
INSTRUMENT_CODES = {InstrumentKind.FUTURE: 0, InstrumentKind.PERPETUAL: 1,
                    InstrumentKind.DATED: 2, InstrumentKind.OPTION: 3}


# --- the mirrored constants ------------------------------------------------------------------


def _pub_constant(name: str) -> str:
    """``pricesPrevHash`` -> ``PUB_PRICES_PREV_HASH`` (the Solidity mirror's name)."""
    return "PUB_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def expected_constants() -> dict[str, int]:
    """Every constant of ``contracts/base/Constants.sol``, from its Python twin."""
    consts = {
        "FIELD_R": P,
        "DELTA_BITS": bounds.DELTA_BITS,
        "CASH_BITS": bounds.CASH_BITS,
        "PRICE_BITS": bounds.PRICE_BITS,
        "SHOCK_BITS": bounds.SHOCK_BITS,
        "IM_FACTOR_BITS": bounds.IM_FACTOR_BITS,
        "BP": bounds.BP,
        "MAX_SLOTS": bounds.MAX_SLOTS,
        "RHO_BITS": bounds.RHO_BITS,
        "MASK_WORD_BITS": bounds.MASK_WORD_BITS,
        "EPOCH_BITS": bounds.EPOCH_BITS,
        "N_EVENTS_BITS": bounds.N_EVENTS_BITS,
        "TOTAL_BITS": bounds.TOTAL_BITS,
        "FUND_BITS": bounds.FUND_BITS,
        "SCALE_BITS": bounds.SCALE_BITS,
        "LAYER_BITS": bounds.LAYER_BITS,
        "HOUSE": HOUSE,
        "N_PUBLIC": len(EPOCH_PUBLIC),
        "POSEIDON_MAX_INPUTS": MAX_INPUTS,
        "BID_BITS": auction.BID_BITS,
        "WINNER_BITS": auction.WINNER_BITS,
        "AWARD_BITS": auction.AWARD_BITS,
        "FLAT_SHIFT": auction.FLAT_SHIFT,
        "LOT_MM_SHIFT": auction.LOT_MM_SHIFT,
    }
    consts |= {f"KIND_{k.name}": int(k) for k in Kind}
    consts |= {f"INSTRUMENT_{k.name}": code for k, code in INSTRUMENT_CODES.items()}
    consts["MAX_INSTRUMENTS"] = bounds.MAX_INSTRUMENTS
    consts |= {_pub_constant(name): i for i, name in enumerate(EPOCH_PUBLIC)}
    return consts


def check_constants(contract: Contract) -> None:
    """Compare the deployed contract's mirrored constants with Python's (by name)."""
    have = {item.get("name") for item in contract.abi if item.get("type") == "function"}
    bad = []
    for name, want in expected_constants().items():
        if name not in have:
            bad.append(f"{name}: missing on-chain")
            continue
        got = int(getattr(contract.functions, name)().call())
        if got != want:
            bad.append(f"{name}: chain {got}, Python {want}")
    if bad:
        raise DeploymentError("constants differ between Solidity and Python: " + "; ".join(bad))


# --- the instrument table ------------------------------------------------------------------


def instrument_tuple(ins: Instrument) -> tuple[int, int, int, bool, int]:
    """The contracts' ``Instrument(kind, expiry, underlying, isCall, strike)`` of a row;
    only an option has an underlying, a right and a strike (0 / false / 0 otherwise)."""
    if ins.is_option:
        return (INSTRUMENT_CODES[ins.kind], ins.expiry, ins.underlying, ins.call, ins.strike)
    return (INSTRUMENT_CODES[ins.kind], ins.expiry, 0, False, 0)


def instrument_from_tuple(row: Any) -> Instrument:
    """The :class:`Instrument` of a row the contracts return (names are not on-chain)."""
    kind_code, expiry, underlying, is_call, strike = (row[0], row[1], row[2], row[3], row[4])
    kind = {c: k for k, c in INSTRUMENT_CODES.items()}[int(kind_code)]
    if kind is InstrumentKind.OPTION:
        return Instrument(kind, int(expiry), int(underlying), int(strike), bool(is_call))
    return Instrument(kind, int(expiry))


# --- deployment -------------------------------------------------------------------------


def _reraise_decoded(exc: Exception, what: str) -> None:
    raise_decoded(exc, f"deploy {what}")


def _send_deploy(w3: Web3, tx: dict[str, Any], what: str) -> tuple[ChecksumAddress, int]:
    try:
        # web3 checks the fields at run time; ours are plain str addresses and hex data
        tx_hash = w3.eth.send_transaction(cast(TxParams, tx))
    except Exception as exc:
        _reraise_decoded(exc, what)
        raise
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None or not w3.eth.get_code(address):
        raise DeploymentError(f"deploying {what} failed: {dict(receipt)}")
    return Web3.to_checksum_address(address), int(receipt["gasUsed"])


def deploy_contract(w3: Web3, c: CompiledContract, *args: Any,
                    sender: str) -> tuple[Contract, int]:
    """Deploy a compiled contract; (contract, deployment gas)."""
    factory = w3.eth.contract(abi=c.abi, bytecode=c.bytecode)
    try:  # building estimates the gas: a reverting constructor fails here
        tx = factory.constructor(*args).build_transaction({"from": sender})
    except Exception as exc:
        _reraise_decoded(exc, c.name)
        raise
    address, gas = _send_deploy(w3, tx, c.name)
    return w3.eth.contract(address=address, abi=c.abi), gas


def deploy_poseidon(w3: Web3, n: int, *, sender: str) -> tuple[ChecksumAddress, int]:
    """Deploy Poseidon(n) (:mod:`zkclear.chain.poseidon_evm`, its stages last to first);
    (address of stage 0, deployment gas of all stages)."""
    address: ChecksumAddress | None = None
    total = 0
    for i, stage in reversed(list(enumerate(poseidon_evm.stages(n)))):
        data = "0x" + stage.initcode(address).hex()
        address, used = _send_deploy(w3, {"from": sender, "data": data}, f"Poseidon{n} stage {i}")
        total += used
    assert address is not None
    return address, total


def deploy_poseidons(w3: Web3, *, sender: str) -> tuple[list[Contract], dict[str, int]]:
    """Deploy Poseidon(1..6) and check each against :func:`zkclear.poseidon.poseidon`."""
    out, gas = [], {}
    for n in POSEIDON_ARITIES:
        address, used = deploy_poseidon(w3, n, sender=sender)
        c = w3.eth.contract(address=address, abi=poseidon_evm.abi(n))
        out.append(c)
        gas[f"Poseidon{n}"] = used
        probe = [(P - 1 - 7 * j) if j % 2 else j + 1 for j in range(n)]
        got = int(c.get_function_by_signature(f"poseidon(uint256[{n}])")(probe).call())
        if got != poseidon(probe):
            raise DeploymentError(f"Poseidon{n} at {address} disagrees with zkclear.poseidon")
    return out, gas


def deploy_system(w3: Web3, setup: PoolSetup, verifier: str, *,
                  sender: str | None = None) -> Deployment:
    """Deploy Poseidon, Governance, collateral, oracle and ClearingHouse around ``verifier``.

    ``verifier`` is the address of the epoch circuit's deployed verifier (for the pool's
    N, M, K, E): use :func:`zkclear.verifier.onchain.deploy_for_keys`, which refuses
    insecure development keys on anything but a local chain. Everything the contracts
    compute themselves (genesis root, paramsHash, genesis pricesHash, every mirrored
    constant) is compared with Python before this returns.
    """
    sender = sender or w3.eth.default_account or w3.eth.accounts[0]
    assert sender is not None
    compiled = build()
    cfg = setup.config
    first_block = int(w3.eth.block_number) + 1
    if not w3.eth.get_code(Web3.to_checksum_address(verifier)):
        raise DeploymentError(f"no contract at the verifier address {verifier}")

    poseidons, gas = deploy_poseidons(w3, sender=sender)
    pos_addrs = [c.address for c in poseidons]
    addresses: dict[str, str] = {f"Poseidon{n}": c.address for n, c in
                                 zip(POSEIDON_ARITIES, poseidons, strict=True)}

    gov, gas["Governance"] = deploy_contract(
        w3, compiled["Governance"], list(setup.owners), setup.threshold, setup.delay,
        sender=sender)
    if setup.token is None:
        token, gas["Collateral"] = deploy_contract(
            w3, compiled["TestCollateral"], "zkclear test collateral", "zUSD", 6,
            sender=sender)
        token_address = token.address
    else:
        token_address = Web3.to_checksum_address(setup.token)
    oracle, gas["PriceOracle"] = deploy_contract(
        w3, compiled["PriceOracle"], *oracle_args(setup, gov.address, pos_addrs),
        sender=sender)
    exit_leaves, gas["ExitLeaves"] = deploy_contract(
        w3, compiled["ExitLeaves"], pos_addrs, cfg.n_slots, cfg.n_instruments, sender=sender)
    ch_config = house_config(setup, gov.address, pos_addrs, token_address, oracle.address,
                             verifier, exit_leaves.address)
    house, gas["ClearingHouse"] = deploy_contract(w3, compiled["ClearingHouse"], ch_config,
                                                  sender=sender)
    gas["PriceOracle.bind"] = _bind_oracle(w3, oracle, house.address, sender)
    lot_auction = w3.eth.contract(address=house.functions.auction().call(),
                                  abi=compiled["LotAuction"].abi)
    addresses |= {"Governance": gov.address, "Collateral": token_address,
                  "PriceOracle": oracle.address, "EpochVerifier":
                  Web3.to_checksum_address(verifier), "ClearingHouse": house.address,
                  "LotAuction": lot_auction.address, "ExitLeaves": exit_leaves.address}

    check_constants(house)
    check_constants(lot_auction)
    check_constants(exit_leaves)
    _check_computed(house, oracle, setup)
    _check_auction(lot_auction, house, gov.address, setup)
    return Deployment(int(w3.eth.chain_id), addresses, cfg, first_block, gas)


def oracle_args(setup: PoolSetup, governance: str, poseidons: Sequence[str]) -> list[Any]:
    """The PriceOracle constructor's arguments for ``setup``."""
    return [governance, poseidons, [instrument_tuple(i) for i in setup.instruments],
            list(setup.genesis_prices), list(setup.reporters), setup.quorum,
            [setup.max_move_bp, setup.max_age, setup.breaker_delay, setup.max_funding_bp]]


def house_config(setup: PoolSetup, governance: str, poseidons: Sequence[str], collateral: str,
                 oracle: str, verifier: str, exit_leaves: str) -> tuple[Any, ...]:
    """The ClearingHouse constructor's ``Config`` for ``setup``."""
    cfg, p = setup.config, setup.params
    return (
        governance, poseidons, collateral, oracle,
        Web3.to_checksum_address(verifier), Web3.to_checksum_address(exit_leaves),
        Web3.to_checksum_address(setup.operator),
        cfg.n_slots, cfg.n_instruments, cfg.n_scenarios,
        [instrument_tuple(i) for i in setup.instruments], cfg.max_events,
        Web3.to_checksum_address(setup.house_account), setup.house_vkh,
        p.im_factor_bp, p.penalty_bp, p.fund_elements(), list(p.position_limits),
        [s for row in p.shocks for s in row], setup.withdrawal_timeout,
        setup.auction_reserve_bp, setup.auction_window,
    )


def _bind_oracle(w3: Web3, oracle: Contract, house: str, sender: str) -> int:
    """Bind the oracle to the clearing house (once, by its deployer); the gas used."""
    fn = oracle.functions.bindClearingHouse(house)
    try:
        tx_hash = fn.transact({"from": sender})
    except Exception as exc:
        _reraise_decoded(exc, "PriceOracle.bindClearingHouse")
        raise
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1 or oracle.functions.clearingHouse().call() != house:
        raise DeploymentError(f"binding the oracle to {house} failed: {dict(receipt)}")
    return int(receipt["gasUsed"])


def _check_computed(house: Contract, oracle: Contract, setup: PoolSetup) -> None:
    """What the contracts hashed themselves must equal the Python truth."""
    bad = []
    root = int(house.functions.stateRoot().call())
    if root != setup.genesis_state().root():
        bad.append("genesis state root")
    if int(house.functions.paramsHash().call()) != setup.params.hash():
        bad.append("paramsHash")
    if int(oracle.functions.markHashOf(0).call()) != mark_hash(setup.genesis_prices):
        bad.append("genesis markHash")
    # Genesis has no risk round (no positions): pricesHash_0 = Poseidon(markHash_0, 0).
    if int(oracle.functions.pricesHashOf(0).call()) != prices_hash(setup.genesis_prices):
        bad.append("genesis pricesHash")
    for name, c in (("oracle", oracle), ("clearing house", house)):
        try:
            got = tuple(instrument_from_tuple(r) for r in c.functions.instruments().call())
        except InstrumentError:
            got = None
        if got is None or [instrument_tuple(i) for i in got] != \
                [instrument_tuple(i) for i in setup.instruments]:
            bad.append(f"the {name}'s instrument table")
    if int(house.functions.withdrawalTimeout().call()) != setup.withdrawal_timeout:
        bad.append("withdrawalTimeout")
    sizes = [int(getattr(house.functions, n)().call())
             for n in ("nSlots", "nInstruments", "nScenarios", "maxEvents")]
    cfg = setup.config
    if sizes != [cfg.n_slots, cfg.n_instruments, cfg.n_scenarios, cfg.max_events]:
        bad.append(f"pool sizes {sizes}")
    if bad:
        raise DeploymentError("on-chain values differ from Python: " + ", ".join(bad))


def _check_auction(lot_auction: Contract, house: Contract, governance: str,
                   setup: PoolSetup) -> None:
    """The house's auction: bound to it and to governance, with the setup's parameters."""
    got = (lot_auction.functions.clearingHouse().call(),
           lot_auction.functions.governance().call(),
           int(lot_auction.functions.auctionReserveBp().call()),
           int(lot_auction.functions.auctionWindow().call()))
    want = (house.address, governance, setup.auction_reserve_bp, setup.auction_window)
    if got != want:
        raise DeploymentError(f"the lot auction is {got}, expected {want}")


def check_verifier_for(keys: Any, config: PoolConfig) -> None:
    """The epoch keys must be for this pool's N, M, K, E (the verifier binds them)."""
    circuit = keys.compiled.circuit
    want = (config.n_slots, config.n_instruments, config.n_scenarios, config.max_events)
    if circuit.name != "epoch" or tuple(circuit.params[:4]) != want:
        raise DeploymentError(
            f"keys are for {circuit.name}{tuple(circuit.params[:4])}, the pool needs "
            f"epoch(N, M, K, E) = {want}")


def deploy_with_keys(w3: Web3, setup: PoolSetup, keys: Any, *, allow_insecure: bool = False,
                     sender: str | None = None) -> Deployment:
    """Deploy the epoch verifier of ``keys`` (insecure-keys guard) and then the system."""
    from zkclear.verifier.onchain import deploy_for_keys

    check_verifier_for(keys, setup.config)
    verifier = deploy_for_keys(w3, keys, allow_insecure=allow_insecure,
                               sender=Web3.to_checksum_address(sender) if sender else None)
    if verifier.n_public != len(EPOCH_PUBLIC):
        raise DeploymentError(f"the verifier takes {verifier.n_public} public inputs, "
                              f"the epoch circuit has {len(EPOCH_PUBLIC)}")
    dep = deploy_system(w3, setup, verifier.address, sender=sender)
    if verifier.deploy_gas is not None:
        dep.gas["EpochVerifier"] = verifier.deploy_gas
    return dep

