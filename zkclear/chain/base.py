"""One connection to one deployed system: its contracts by name, and how a call or a
transaction is sent -- gas estimated (+25 %) unless given, the receipt awaited, a revert
raised as the :class:`~zkclear.chain.reverts.ContractError` it carries (for a transaction
mined with status 0, found by replaying it as a call on the state before its block).

:class:`ClientBase` is what :class:`zkclear.chain.client.Client`'s parts share
(:class:`zkclear.chain.oracle.OracleCalls`, the client's own governance, member and epoch
methods).
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from zkclear.chain import contracts
from zkclear.chain import node as chain
from zkclear.chain.commits import sign_inner
from zkclear.chain.reverts import ContractError, raise_decoded
from zkclear.errors import ZkclearError

#: A governed call: (target address, calldata), for a governance proposal.
Call = tuple[str, bytes]


class ClientBase:
    """One connection to one deployed system: contracts by name, calls and transactions."""

    def __init__(self, w3: Web3, deployment: contracts.Deployment) -> None:
        if int(w3.eth.chain_id) != deployment.chain_id:
            raise ZkclearError(f"the deployment is on chain {deployment.chain_id}, "
                               f"this connection is to chain {w3.eth.chain_id}")
        self.w3, self.deployment = w3, deployment
        abis = contracts.abis()
        self.c: dict[str, Contract] = {
            name: w3.eth.contract(address=deployment.address(name), abi=abis[name])
            for name in deployment.addresses
        }
        self.house = self.c["ClearingHouse"]
        if "LotAuction" not in self.c:  # a deployment file written before the auction
            self.c["LotAuction"] = w3.eth.contract(
                address=self.house.functions.auction().call(), abi=abis["LotAuction"])
        #: The auction of the house's lot (created by the clearing house).
        self.auction = self.c["LotAuction"]
        self.oracle = self.c["PriceOracle"]
        self.governance = self.c["Governance"]
        self.token = self.c["Collateral"]
        #: (action, gas used) of every transaction this client sent, in order.
        self.gas_log: list[tuple[str, int]] = []

    def _name(self, fn: Any) -> str:
        for name, c in self.c.items():
            if c.address == fn.address:
                return f"{name}.{fn.fn_name}"
        return str(fn.fn_name)

    def call(self, fn: Any, *, sender: str | None = None) -> Any:
        try:
            return fn.call({"from": sender} if sender else {})
        except Exception as exc:
            raise_decoded(exc, self._name(fn))
            raise

    def transact(self, fn: Any, *, sender: str, gas: int | None = None) -> Any:
        """Send ``fn`` from ``sender``; the receipt, or the decoded revert as ContractError."""
        action = self._name(fn)
        params: dict[str, Any] = {"from": sender}
        try:
            if gas is None:
                est = int(fn.estimate_gas(params))
                gas = est + est // 4 + 10_000
            tx_hash = fn.transact({**params, "gas": gas})
        except Exception as exc:
            raise_decoded(exc, action)
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            # Mined but reverted (the embedded chain with an explicit gas limit, or a
            # real network): replay it on the state before its block to learn why.
            try:
                fn.call({**params, "gas": gas}, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:
                raise_decoded(exc, action)
                raise
            raise ContractError(action, "", {}, b"")  # out of gas, or state moved on
        self.gas_log.append((action, int(receipt["gasUsed"])))
        return receipt

    def logs(self, receipt: Any, contract: str, event: str) -> list[dict[str, Any]]:
        """The arguments of each ``contract.event`` log in a receipt (others ignored)."""
        ev = getattr(self.c[contract].events, event)()
        return [dict(e["args"]) for e in ev.process_receipt(receipt, errors=DISCARD)]

    def _encode(self, contract: str, fn: str, *args: Any) -> Call:
        c = self.c[contract]
        return c.address, bytes.fromhex(c.encode_abi(fn, args=list(args))[2:])

    def _sign_as(self, account: str, inner: bytes) -> bytes:
        """EIP-191 signature (r || s || v) of ``inner`` by one of the node's accounts: with
        the embedded chain's key (low s), else by ``eth_sign`` (an unlocked account)."""
        key = chain.embedded_private_key(self.w3, account)
        if key is not None:
            return sign_inner(inner, key)
        # web3 types eth_sign as HexStr; providers answer with HexBytes: take either
        return bytes(HexBytes(self.w3.eth.sign(Web3.to_checksum_address(account), data=inner)))
