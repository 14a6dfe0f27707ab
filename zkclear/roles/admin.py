"""The command-line roles around the pool: deployer, oracle reporter, governance owner,
and a member's registration request (view-key commitment + escrow).

Every function here takes plain arguments and returns a JSON-able dict, so the CLI
(:mod:`zkclear.cli.main`) only parses and prints. On a real node, pass the role's key file
(``zkclear-eth-key-v1``, owner-only; see :func:`zkclear.roles.member.read_eth_key`): the
transactions are signed locally (:func:`zkclear.chain.node.use_local_keys`).

The pool file that ``zkclear deploy`` reads (``zkclear-pool-v1``, the record
:class:`zkclear.schemas.PoolFile`, published as ``docs/schemas/pool.json``)::

    {"format": "zkclear-pool-v1",
     "slots": 4, "instruments": 2, "scenarios": 4,
     "risk": {"im_factor_bp": 15000, "penalty_bp": 1000,
              "position_limits": [1000000, 1000000],
              "shocks": [[500, 500], [-500, -500], [1000, 1000], [-1000, -1000]]},
     "genesis_prices": [1000, 1100],
     "owners": ["0x…", "0x…", "0x…"], "threshold": 2, "delay": 3600,
     "reporters": ["0x…", "0x…", "0x…"], "quorum": 3, "max_move_bp": 2000, "max_age": 3600,
     "breaker_delay": 600, "operator": "0x…", "house_account": "0x…", "token": null,
     "withdrawal_timeout": 86400, "max_funding_bp": 100}

``quorum`` is odd (the final price is the median of that many posts); ``breaker_delay``
(optional, default 600 s, below ``max_age``) is how long a median beyond ``max_move_bp``
waits before it becomes final (docs/protocol.md, "Oracle"). ``withdrawal_timeout``
(optional, seconds, default one day): an unserved withdrawal request older than this lets
anyone freeze the pool. ``instruments`` is M, for M plain futures, or the fixed
instrument table itself, a list of ``Instrument.from_json`` objects, M = its length
(``kind`` future, perpetual, dated or option; ``expiry`` epoch; an option's
``underlying``, ``strike``, ``right``; docs/protocol.md "Instruments"), e.g.
``[{"kind": "future"}, {"kind": "perpetual"}, {"kind": "option", "expiry": 12,
"underlying": 0, "strike": 1000, "right": "put"}]``. ``max_funding_bp`` (optional,
default 30): the oracle's governed funding clamp (|f| <= that many bp of the mark).
``auction_reserve_bp`` and ``auction_window`` (optional, defaults 10000 and 600 s): the
governed auction of the house's lot (docs/protocol.md, "The auction of the house's lot").

``token`` null deploys a test collateral token (local chains); otherwise the ERC-20 to
hold as collateral.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from web3 import Web3

from zkclear.clearing.params import ParamsError
from zkclear.errors import ZkclearError
from zkclear.schemas import PoolFile, Risk, format_of, load

POOL_FORMAT = format_of(PoolFile)


class RoleError(ZkclearError):
    """A role command's input is wrong (the message says which field or file)."""


def connect(rpc_url: str, key_file: str | Path | None, from_account: str | None = None) -> Web3:
    """A JSON-RPC connection; with ``key_file`` its account signs locally, with
    ``from_account`` transactions come from that account of the node's unlocked ones."""
    from zkclear.chain import node as chain
    from zkclear.roles.member import read_eth_key

    if key_file and from_account:
        raise RoleError("pass --key (sign locally) or --from (a node account), not both")
    signers = [read_eth_key(Path(key_file))] if key_file else []
    w3 = chain.http_web3(rpc_url, signers=signers)
    if from_account:
        try:
            account = Web3.to_checksum_address(from_account)
        except ValueError:
            raise RoleError(f"--from {from_account!r} is not an address") from None
        if account not in w3.eth.accounts:
            raise RoleError(f"--from {account}: the node at {rpc_url} holds no such unlocked "
                            "account (pass --key FILE to sign locally)")
        w3.eth.default_account = account
    return w3


def _client(rpc_url: str, deployment: str | Path, key_file: str | Path | None,
            from_account: str | None = None) -> Any:
    from zkclear.chain.client import Client
    from zkclear.chain.contracts import Deployment

    dep = Deployment.load(Path(deployment))  # a DeploymentError names the file and field
    return Client(connect(rpc_url, key_file, from_account), dep)


def _sender(cl: Any) -> str:
    account = cl.w3.eth.default_account
    if not account:
        raise RoleError("no account to send from: pass --key FILE (or use a node with "
                        "unlocked accounts)")
    return str(account)


# -- deploy ---------------------------------------------------------------------------------


def load_pool(path: str | Path) -> Any:
    """A :class:`zkclear.chain.contracts.PoolSetup` from a ``zkclear-pool-v1`` file
    (:class:`zkclear.schemas.PoolFile`)."""

    doc = load(PoolFile, path, what="the pool file", error=RoleError)
    config, params = doc.to_engine()
    defaults = {k: v for k in ("breaker_delay", "withdrawal_timeout", "max_funding_bp",
                               "auction_reserve_bp", "auction_window")
                if (v := getattr(doc, k)) is not None}
    try:
        return _pool_setup(doc, config, params, defaults)
    except ValueError as exc:  # ParamsError, InstrumentError: e.g. a zero genesis mark
        raise RoleError(f"the pool file {path}: {exc}") from None


def _pool_setup(doc: Any, config: Any, params: Any, defaults: dict[str, Any]) -> Any:
    from zkclear.chain.contracts import PoolSetup

    return PoolSetup(
        config, params, tuple(doc.genesis_prices),
        owners=tuple(map(Web3.to_checksum_address, doc.owners)), threshold=doc.threshold,
        reporters=tuple(map(Web3.to_checksum_address, doc.reporters)), quorum=doc.quorum,
        operator=Web3.to_checksum_address(doc.operator),
        house_account=Web3.to_checksum_address(doc.house_account), delay=doc.delay,
        max_move_bp=doc.max_move_bp, max_age=doc.max_age,
        token=Web3.to_checksum_address(doc.token) if doc.token else None,
        instruments=params.instruments, **defaults)


def deploy(rpc_url: str, pool_file: str | Path, out: str | Path, *,
           key_file: str | Path | None = None, insecure_dev_setup: bool = False,
           from_account: str | None = None) -> dict[str, Any]:
    """Deploy the system for the pool file with the installed epoch keys (a ceremony's),
    or INSECURE development keys with ``insecure_dev_setup`` (local chains only: the
    deployment refuses them elsewhere)."""
    from zkclear.chain.contracts import deploy_with_keys
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.keys import dev_setup, load_keys

    setup = load_pool(pool_file)
    w3 = connect(rpc_url, key_file, from_account)  # a bad node or account fails first
    cfg = setup.config
    compiled = compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments, cfg.n_scenarios,
                                              cfg.max_events))
    keys = load_keys(compiled)
    if keys is None:
        if not insecure_dev_setup:
            raise RoleError("no proving keys are installed for this pool's epoch circuit: "
                            "run a ceremony (zkclear ceremony ...), or pass "
                            "--insecure-dev-setup on a local chain")
        keys = dev_setup(compiled)
    dep = deploy_with_keys(w3, setup, keys, allow_insecure=insecure_dev_setup,
                           sender=str(w3.eth.default_account))
    dep.save(Path(out))
    return {"deployment": str(out), "chain_id": dep.chain_id, "addresses": dep.addresses,
            "insecure_keys": bool(keys.insecure)}


# -- oracle ---------------------------------------------------------------------------------


def post_prices(rpc_url: str, deployment: str | Path, epoch: int,
                prices: Sequence[int] | None = None, *,
                venues: Mapping[str, Sequence[int]] | None = None,
                key_file: str | Path | None = None,
                from_account: str | None = None,
                funding: Sequence[int] | None = None) -> dict[str, Any]:
    """Post ``epoch``'s prices: ``prices`` as given, or with ``venues`` (name -> one price
    per instrument) their per-instrument median, the venues published in the event;
    ``funding``: one signed amount per instrument (perpetuals only; None posts zeros)."""
    cl = _client(rpc_url, deployment, key_file, from_account)
    prices = post_values(cl.deployment.config.n_instruments, prices, venues, funding)
    receipt = cl.post_prices(epoch, list(prices), venues=venues or None, sender=_sender(cl),
                             funding=funding)
    return {"epoch": epoch, "prices": list(prices), "venues":
            {k: list(v) for k, v in (venues or {}).items()},
            **({"funding": list(funding)} if funding is not None else {}),
            "gas_used": int(receipt["gasUsed"]), **_price_state(cl, epoch)}


def post_values(m: int, prices: Sequence[int] | None,
                venues: Mapping[str, Sequence[int]] | None,
                funding: Sequence[int] | None) -> list[int]:
    """A post's marks for a pool of ``m`` instruments: ``prices``, or the ``venues``'
    per-instrument median (which ``prices``, if given too, must be); every list one value
    per instrument."""
    from zkclear.chain.client import venue_medians

    if venues:
        for name, ps in venues.items():
            if len(ps) != m:
                raise RoleError(f"venue {name}: the pool has {m} instruments, got "
                                f"{len(ps)} prices")
        med = venue_medians(venues)
        if prices is not None and tuple(prices) != med:
            raise RoleError(f"--prices {list(prices)} are not the venues' median {list(med)}")
        prices = med
    if prices is None:
        raise RoleError("post needs --prices or --venue")
    if len(prices) != m:
        raise RoleError(f"the pool has {m} instruments, got {len(prices)} prices")
    if funding is not None and len(funding) != m:
        raise RoleError(f"the pool has {m} instruments, got {len(funding)} funding amounts")
    return list(prices)


def post_risk_arrays(rpc_url: str, deployment: str | Path, arrays_file: str | Path, *,
                     key_file: str | Path | None = None,
                     from_account: str | None = None) -> dict[str, Any]:
    """Post an epoch's option risk arrays with their hash, from the
    ``zkclear-risk-arrays-v1`` document ``zkclear risk arrays`` wrote (its epoch, its
    arrays; the hash is checked against the deployed instrument table first)."""
    from zkclear.clearing.instruments import InstrumentError, risk_hash
    from zkclear.clearing.span import SpanError, arrays_from_json, loads

    try:
        doc = arrays_from_json(loads(Path(arrays_file).read_text(encoding="utf-8")))
    except OSError as exc:
        raise RoleError(f"cannot read the risk arrays {arrays_file}: {exc.strerror}") from None
    except SpanError as exc:
        raise RoleError(f"the risk arrays {arrays_file}: {exc}") from None
    cl = _client(rpc_url, deployment, key_file, from_account)
    arrays = doc.option_arrays()
    try:
        want = risk_hash(cl.instruments(), arrays, cl.deployment.config.n_scenarios,
                         doc.epoch)
    except InstrumentError as exc:
        raise RoleError(f"the risk arrays {arrays_file} do not fit the pool: {exc}") from None
    if want != doc.risk_hash:
        raise RoleError(f"the risk arrays {arrays_file} hash to {doc.risk_hash}, the pool's "
                        f"table gives {want}")
    receipt = cl.post_risk_arrays(doc.epoch, arrays, sender=_sender(cl))
    return {"epoch": doc.epoch, "risk_hash": str(want), "gas_used": int(receipt["gasUsed"]),
            "risk_final": cl.risk_hash(doc.epoch) == want, **_price_state(cl, doc.epoch)}


def release_prices(rpc_url: str, deployment: str | Path, epoch: int, *,
                   key_file: str | Path | None = None,
                   from_account: str | None = None) -> dict[str, Any]:
    """Release prices the circuit breaker held, once its delay has passed."""
    cl = _client(rpc_url, deployment, key_file, from_account)
    receipt = cl.release_prices(epoch, sender=_sender(cl))
    return {"epoch": epoch, "gas_used": int(receipt["gasUsed"]), **_price_state(cl, epoch)}


def _price_state(cl: Any, epoch: int) -> dict[str, Any]:
    """``final``: the marks are; ``prices_hash`` is 0 until (with options) the risk
    arrays are too."""
    final = cl.mark_hash(epoch) != 0
    pending, release_at = cl.pending_prices(epoch)
    return {"final": final, "final_prices": list(cl.final_prices(epoch)) if final else None,
            "funding_index": list(cl.funding_index(epoch)) if final else None,
            "prices_hash": str(cl.prices_hash(epoch)),
            "breaker": {"prices": list(pending), "release_at": release_at}
            if release_at else None}


# -- governance -----------------------------------------------------------------------------


def propose(rpc_url: str, deployment: str | Path, action: str, *,
            key_file: str | Path | None = None, slot: int | None = None,
            account: str | None = None, vkh: int | None = None, escrow: str | None = None,
            risk_file: str | Path | None = None, reserve_bp: int | None = None,
            window: int | None = None, from_account: str | None = None) -> dict[str, Any]:
    """Propose one governed action: ``register-member``, ``remove-member``,
    ``risk-params``, ``set-operator``, ``add-reporter``, ``remove-reporter``,
    ``set-auction-params``."""
    cl = _client(rpc_url, deployment, key_file, from_account)
    if action == "register-member":
        if slot is None or account is None or vkh is None or escrow is None:
            raise RoleError("register-member needs --slot, --account, --vkh and --escrow")
        try:
            blob = bytes.fromhex(escrow.removeprefix("0x"))
        except ValueError:
            raise RoleError("--escrow must be hex (zkclear member escrow prints it)") from None
        call = cl.register_member_call(slot, Web3.to_checksum_address(account), vkh, blob)
    elif action == "remove-member":
        if slot is None:
            raise RoleError("remove-member needs --slot")
        call = cl.remove_member_call(slot)
    elif action == "risk-params":
        if risk_file is None:
            raise RoleError("risk-params needs --risk FILE (the pool file's risk object)")
        params = load(Risk, risk_file, what="the risk file", error=RoleError).to_engine()
        try:
            params.check_config(cl.deployment.config)
        except ParamsError as exc:
            raise RoleError(f"the risk file {risk_file}: {exc}") from None
        call = cl.risk_params_call(params)
    elif action in ("set-operator", "add-reporter", "remove-reporter"):
        if account is None:
            raise RoleError(f"{action} needs --account")
        addr = Web3.to_checksum_address(account)
        call = {"set-operator": cl.set_operator_call, "add-reporter": cl.add_reporter_call,
                "remove-reporter": cl.remove_reporter_call}[action](addr)
    elif action == "set-auction-params":
        if reserve_bp is None or window is None:
            raise RoleError("set-auction-params needs --reserve-bp and --window")
        timeout = cl.withdrawal_timeout()
        if 4 * window > timeout:
            raise RoleError(f"--window {window}: an auction (commits and reveals, twice the "
                            f"window) must fit twice in the withdrawal timeout {timeout} s "
                            f"(window <= {timeout // 4})")
        call = cl.set_auction_params_call(reserve_bp, window)
    else:
        raise RoleError(f"unknown governance action {action!r}")
    pid = cl.propose([call], sender=_sender(cl))
    return {"proposal": pid, "action": action, **proposal_info(cl, pid)}


def proposal_info(cl: Any, pid: int) -> dict[str, Any]:
    proposer, eta, _, executed, _, cancelled = cl.call(
        cl.governance.functions.proposals(pid))
    if int(proposer, 16) == 0:
        raise RoleError(f"there is no proposal {pid}")
    return {"proposer": str(proposer), "confirmations": cl.confirmations(pid),
            "eta": int(eta) or None, "executed": bool(executed),
            "cancelled": bool(cancelled),
            "expires_at": int(cl.call(cl.governance.functions.expiresAt(pid)))}


def confirm(rpc_url: str, deployment: str | Path, pid: int, *,
            key_file: str | Path | None = None,
            from_account: str | None = None) -> dict[str, Any]:
    cl = _client(rpc_url, deployment, key_file, from_account)
    cl.confirm(pid, sender=_sender(cl))
    return {"proposal": pid, **proposal_info(cl, pid)}


def execute(rpc_url: str, deployment: str | Path, pid: int, *,
            key_file: str | Path | None = None,
            from_account: str | None = None) -> dict[str, Any]:
    cl = _client(rpc_url, deployment, key_file, from_account)
    cl.execute(pid, sender=_sender(cl))
    return {"proposal": pid, **proposal_info(cl, pid)}


def show(rpc_url: str, deployment: str | Path, pid: int) -> dict[str, Any]:
    cl = _client(rpc_url, deployment, None)
    return {"proposal": pid, **proposal_info(cl, pid)}


# -- a member's registration request ----------------------------------------------------------


def member_escrow(key_dir: str | Path, compliance_public: str, pool_id: str) -> dict[str, Any]:
    """What governance needs to register a member: its account, ``vkh`` and the escrow of
    its view key to the pool's compliance key (``pool_id`` = "<chain id>:<house address>")."""
    from eth_account import Account

    from zkclear.chain.contracts import parse_pool_id
    from zkclear.privacy.compliance import escrow
    from zkclear.privacy.viewkeys import MemberKey, load_key
    from zkclear.roles.member import read_eth_key

    try:
        pool_id = parse_pool_id(pool_id)
    except ValueError as exc:
        raise RoleError(str(exc)) from None
    key = load_key(Path(key_dir) / "viewkey.json")
    if not isinstance(key, MemberKey):
        raise RoleError(f"{key_dir}/viewkey.json holds an epoch key, not a member key")
    try:
        public = bytes.fromhex(compliance_public.removeprefix("0x"))
    except ValueError:
        raise RoleError("--compliance-public must be 32 bytes of hex") from None
    try:
        blob = escrow(key, public, key.slot, pool_id)
    except ValueError as exc:
        raise RoleError(str(exc)) from exc
    account = Account.from_key(read_eth_key(Path(key_dir) / "eth-key.json")).address
    return {"slot": key.slot, "account": account, "vkh": str(key.vkh),
            "escrow": "0x" + blob.hex(), "pool_id": pool_id}
