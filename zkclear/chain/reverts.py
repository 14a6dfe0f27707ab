"""Reverts as Python errors: the raw revert data any backend carries, decoded against
every error of every zkclear contract into a :class:`ContractError`.

A revert becomes a :class:`ContractError` carrying the custom error's name and decoded
arguments (``err.name == "RootMismatch"``, ``err.args_dict["expected"]``); an error that
wraps another one's revert data (Governance's ``CallFailed``) is decoded recursively into
``err.inner``. Revert data is found wherever the backend puts it: eth-tester's
``TransactionFailed`` message, web3's ``ContractCustomError``, a JSON-RPC error's ``data``
(:func:`revert_data`). The chain client (:mod:`zkclear.chain.client`) and the deployer
(:mod:`zkclear.chain.contracts`) both raise through :func:`raise_decoded`.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from zkclear.chain.artefacts import abis
from zkclear.errors import ZkclearError


class ContractError(ZkclearError):
    """A contract call or transaction reverted.

    ``name`` is the custom error (``"Error"`` for a ``require`` string, ``"Panic"`` for a
    Solidity panic, ``""`` if the node returned no revert data); ``args_dict`` its
    decoded arguments by name; ``inner`` the error decoded from a ``bytes`` argument that
    holds another revert (Governance's ``CallFailed``).
    """

    def __init__(self, action: str, name: str, args: Mapping[str, Any], data: bytes,
                 inner: ContractError | None = None) -> None:
        self.action, self.name, self.args_dict, self.data, self.inner = (
            action, name, dict(args), data, inner)
        super().__init__(f"{action} reverted: {self.describe()}")

    def describe(self) -> str:
        if not self.name:
            return "(no revert data)"
        parts = []
        for k, v in self.args_dict.items():
            if isinstance(v, bytes) and self.inner is not None:
                parts.append(f"{k}={self.inner.describe()}")
            else:
                parts.append(f"{k}={_fmt(v)}")
        return f"{self.name}({', '.join(parts)})"

    @property
    def root(self) -> ContractError:
        """The innermost error (what a governed call really failed with)."""
        return self.inner.root if self.inner is not None else self


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return hex(v) if abs(v) >= 1 << 64 else str(v)
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, str) and Web3.is_address(v):
        return Web3.to_checksum_address(v)
    return str(v)


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


def _abi_type(inp: Mapping[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[5:]
    return t


@functools.cache
def error_table() -> dict[bytes, _ErrorAbi]:
    """Selector -> error, for every error of every zkclear contract (+ Error, Panic)."""
    table = {
        function_signature_to_4byte_selector("Error(string)"):
            _ErrorAbi("Error", ("string",), ("message",)),
        function_signature_to_4byte_selector("Panic(uint256)"):
            _ErrorAbi("Panic", ("uint256",), ("code",)),
    }
    for abi in abis().values():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in item["inputs"])
            sel = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            table[sel] = _ErrorAbi(item["name"], types, tuple(i["name"] for i in item["inputs"]))
    return table


def decode_error(data: bytes, action: str) -> ContractError:
    """The :class:`ContractError` for raw revert ``data``."""
    if len(data) < 4:
        return ContractError(action, "", {}, data)
    spec = error_table().get(data[:4])
    if spec is None:
        return ContractError(action, f"unknown error 0x{data[:4].hex()}", {}, data)
    try:
        values = abi_decode(list(spec.types), data[4:])
    except (DecodingError, ValueError):
        return ContractError(action, spec.name + " (undecodable arguments)", {}, data)
    values = tuple(Web3.to_checksum_address(v) if t == "address" else v
                   for t, v in zip(spec.types, values, strict=True))
    args = dict(zip(spec.names, values, strict=True))
    inner = None
    for v in values:
        if isinstance(v, bytes) and len(v) >= 4 and v[:4] in error_table():
            inner = decode_error(v, action)
    return ContractError(action, spec.name, args, data, inner)


_TESTER_BYTES = re.compile(r"execution reverted: (b(['\"]).*\2)$", re.S)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data an exception from any backend carries, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, Mapping):  # hardhat: {"message": ..., "data": "0x..."}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, Mapping):
        err: object = exc.rpc_response.get("error") or {}
        d = err.get("data") if isinstance(err, Mapping) else None
        if isinstance(d, Mapping):
            d = d.get("data")
        if isinstance(d, str) and d.startswith("0x"):
            return bytes.fromhex(d[2:])
    msg = str(exc.args[0]) if exc.args else ""
    m = _TESTER_BYTES.search(msg)
    if m:  # eth-tester: "execution reverted: b'...'" (web3 itself parses it this way)
        try:
            value = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            return None
        return bytes(value) if isinstance(value, bytes) else None
    if msg.startswith("execution reverted: "):  # eth-tester decoded a require string
        reason = msg[len("execution reverted: "):]
        return function_signature_to_4byte_selector("Error(string)") + abi_encode(
            ["string"], [reason])
    return None


def _looks_like_revert(exc: BaseException) -> bool:
    if isinstance(exc, ContractLogicError):
        return True
    text = str(exc).lower()
    return "revert" in text or "transactionfailed" in type(exc).__name__.lower()


def raise_decoded(exc: BaseException, action: str) -> None:
    """Raise the :class:`ContractError` for ``exc`` if it is a revert; else return."""
    data = revert_data(exc)
    if data is not None:
        raise decode_error(data, action) from exc
    if _looks_like_revert(exc):
        raise ContractError(action, "", {}, b"") from exc
