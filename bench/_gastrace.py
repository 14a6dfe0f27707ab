"""Where a transaction's gas goes, on the embedded chain (py-evm): by contract and opcode kind.

:func:`trace_gas` wraps the running fork's opcodes and its message calls while it is
active, and records, for every top-level message whose calldata starts with a watched
selector, the gas each frame spends, grouped as ``contract/kind``:

* ``kind`` is the opcode's mnemonic for the costs that matter here (``SLOAD``,
  ``SSTORE``, ``LOG*``, ``KECCAK256``, the ``CALL`` family's own overhead: cold access,
  memory, value) and ``compute`` for the rest;
* a call's gas is split: the callee's frame is counted under the callee, the caller pays
  only the call's overhead, so the parts add up to the message's execution gas;
* precompiles are frames of their own (``ecrecover``, ``ecAdd``, ``ecMul``,
  ``ecPairing``, ``sha256``, ...).

The transaction's intrinsic gas (21,000 base plus calldata) and the refund are the
receipt's ``gasUsed`` minus that execution gas (:func:`breakdown`). A bench tool: it
patches py-evm's classes while active and restores them on exit.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PRECOMPILES = {1: "ecrecover", 2: "sha256", 3: "ripemd160", 4: "identity", 5: "modexp",
               6: "ecAdd", 7: "ecMul", 8: "ecPairing", 9: "blake2f"}
CALLS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}
KINDS = CALLS | {"SLOAD", "SSTORE", "KECCAK256", "LOG0", "LOG1", "LOG2", "LOG3", "LOG4",
                 "CALLDATACOPY", "BALANCE", "EXTCODESIZE", "EXTCODEHASH"}


@dataclass
class Trace:
    """One top-level message: gas by ``contract/kind`` (execution only)."""

    selector: str
    parts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: (contract, SLOAD or SSTORE, slot as hex) -> gas, for the storage detail
    storage: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))

    @property
    def execution(self) -> int:
        return sum(self.parts.values())


@contextlib.contextmanager
def trace_gas(w3: Any, names: Mapping[str, str],
              selectors: Mapping[bytes, str]) -> Iterator[list[Trace]]:
    """Record a :class:`Trace` for each top-level message whose selector is watched.

    ``names`` maps checksum-less lower-case hex addresses to contract names; other
    addresses show as their hex. Yields the list the traces are appended to.
    """
    cc = w3.provider.ethereum_tester.backend.chain.get_vm().state.computation_class
    traces: list[Trace] = []
    stack: list[dict[str, Any]] = []  # per live frame: name, watched, last child's gas
    orig_ops = dict(cc.opcodes)
    orig_apply = cc.__dict__.get("apply_computation")
    base_apply = cc.apply_computation

    def frame_name(message: Any) -> str:
        addr = int.from_bytes(message.code_address, "big")
        if addr in PRECOMPILES:
            return PRECOMPILES[addr]
        hexed = "0x" + message.code_address.hex()
        return names.get(hexed, hexed)

    def apply(cls: Any, state: Any, message: Any, tx_ctx: Any,
              parent_computation: Any = None) -> Any:
        if message.depth == 0:
            sel = bytes(message.data[:4])
            watched = sel in selectors
            if watched:
                traces.append(Trace(selectors[sel]))
        else:
            watched = bool(stack) and stack[-1]["watched"]
        stack.append({"name": frame_name(message), "watched": watched, "child": 0})
        try:
            comp = base_apply.__func__(cls, state, message, tx_ctx, parent_computation)
        finally:
            frame = stack.pop()
        used = message.gas - comp.get_gas_remaining()
        if stack:
            stack[-1]["child"] = used
        if watched and frame["name"] in PRECOMPILES.values():
            traces[-1].parts[f"{frame['name']}"] += used
        return comp

    def wrap(op: Any, mnemonic: str) -> Any:
        kind = mnemonic if mnemonic in KINDS else "compute"
        if kind in CALLS:
            kind = "call overhead"

        def run(computation: Any) -> None:
            frame = stack[-1]
            if not frame["watched"]:
                return op(computation=computation)
            before = computation.get_gas_remaining()
            frame["child"] = 0
            slot = None
            if kind in ("SLOAD", "SSTORE"):
                top = computation._stack.values[-1]
                slot = hex(top if isinstance(top, int) else int.from_bytes(top, "big"))
            try:
                return op(computation=computation)
            finally:
                spent = before - computation.get_gas_remaining() - frame["child"]
                traces[-1].parts[f"{frame['name']}/{kind}"] += spent
                if slot is not None:
                    traces[-1].storage[(frame["name"], kind, slot)] += spent
        return run

    try:
        cc.apply_computation = classmethod(apply)
        for code, op in orig_ops.items():
            mnemonic = getattr(op, "mnemonic", None) or op.__wrapped__.mnemonic
            cc.opcodes[code] = wrap(op, mnemonic)
        yield traces
    finally:
        cc.opcodes.clear()
        cc.opcodes.update(orig_ops)
        if orig_apply is not None:
            cc.apply_computation = orig_apply
        else:
            del cc.apply_computation


def breakdown(trace: Trace, gas_used: int, top: int = 40) -> dict[str, Any]:
    """The receipt's ``gasUsed`` split: intrinsic (base, calldata) less refund, then the
    execution's parts, largest first; ``by_contract`` sums them per contract."""
    by_contract: dict[str, int] = defaultdict(int)
    for key, gas in trace.parts.items():
        by_contract[key.split("/")[0]] += gas
    parts = sorted(trace.parts.items(), key=lambda kv: -kv[1])
    return {
        "gas_used": gas_used,
        "execution": trace.execution,
        "intrinsic_less_refund": gas_used - trace.execution,
        "by_contract": dict(sorted(by_contract.items(), key=lambda kv: -kv[1])),
        "parts": dict(parts[:top]),
        "storage": {f"{c} {k} {slot}": g for (c, k, slot), g in
                    sorted(trace.storage.items(), key=lambda kv: -kv[1])},
    }
