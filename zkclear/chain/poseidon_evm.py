"""Poseidon(1..6) as hand-scheduled EVM bytecode, about 3x cheaper than circomlibjs's.

circomlibjs's generated contracts (``poseidon_gencontract.js``) run the textbook rounds:
a dense t x t matrix product in every one of the ~60 partial rounds, in a loop reading its
constants from memory -- ~70k gas of execution for Poseidon(4), the events accumulator's
step. This module emits straight-line code for circomlib's *optimised* schedule instead
(the sparse partial rounds of ``poseidon_opt.js`` and :func:`zkclear.poseidon.poseidon_python`,
same constants, ``zkclear._poseidon_constants``): per partial round one S-box and 2t - 1
products. Constants are ``PUSH32`` immediates (the sparse rows' first entry, equal in
every round, stays on the stack), the state lives on the stack, sums are reduced lazily
(each stack word carries a bound k, word < k·r, and ``ADDMOD`` replaces ``ADD`` only
where k would pass 5: 5r < 2^256 < 6r), and the last round computes only the output word.
Inputs are taken mod r as circomlibjs's contracts take them (the first constants are
added with ``ADDMOD``), so both answer the same for every ``uint256[n]``; the output is
canonical.

The constants of t >= 5 do not fit one contract (EIP-170: 24,576 bytes), so the code is
cut between rounds into *stages*: each but the last ends by ``STATICCALL``-ing the next
stage with the t state words as calldata and returns its answer. Only stage 0 checks the
selector ``poseidon(uint256[n])`` and the calldata length (anything else reverts); a later
stage is a pure function of its calldata, so calling it directly harms nothing. Stages
are deployed last to first (:meth:`Stage.initcode` takes the next stage's address).

Bit-identity with circomlib is what matters (the epoch circuit recomputes the events
accumulator): :func:`zkclear.chain.contracts.deploy_poseidons` checks every arity against
:func:`zkclear.poseidon.poseidon` after deployment, and ``tests/contracts`` compares the
contracts with circomlibjs's and the Python reference on many inputs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import function_signature_to_4byte_selector

from zkclear.field import P
from zkclear.poseidon import MAX_INPUTS, round_schedule

#: EIP-170's limit on deployed code.
CODE_LIMIT = 24_576
#: Lazy reduction: a word below LIMIT * P fits 256 bits (5P < 2^256 < 6P).
LIMIT = 5
#: Any uint256 (calldata): the first operation on it must reduce.
_RAW = LIMIT + 1
_STAGE_BUDGET = CODE_LIMIT - 128  # room for the epilogue (the call to the next stage)

_ADD, _MOD, _ADD_MOD, _MUL_MOD, _EQ, _ISZERO, _SHR = 0x01, 0x06, 0x08, 0x09, 0x14, 0x15, 0x1C
_CALLDATALOAD, _CALLDATASIZE, _CODECOPY = 0x35, 0x36, 0x39
_POP, _MLOAD, _MSTORE, _JUMPI, _GAS, _JUMPDEST = 0x50, 0x51, 0x52, 0x57, 0x5A, 0x5B
_PUSH0, _PUSH20, _DUP1, _SWAP1 = 0x5F, 0x73, 0x80, 0x90
_RETURN, _STATICCALL, _REVERT = 0xF3, 0xFA, 0xFD


def abi(n: int) -> list[dict[str, Any]]:
    """The one function every Poseidon contract answers (circomlibjs's uint256 form)."""
    return [{"type": "function", "name": "poseidon", "stateMutability": "pure",
             "inputs": [{"name": "input", "type": f"uint256[{n}]",
                         "internalType": f"uint256[{n}]"}],
             "outputs": [{"name": "", "type": "uint256", "internalType": "uint256"}]}]


@dataclass
class _Asm:
    """Straight-line EVM code and a symbolic stack, (name, bound) per word, top last."""

    code: bytearray = field(default_factory=bytearray)
    stack: list[tuple[str, int]] = field(default_factory=list)
    #: Offsets of PUSH2 immediates to patch with the revert label.
    to_revert: list[int] = field(default_factory=list)
    #: Offset of the PUSH20 immediate holding the next stage's address.
    next_at: int | None = None

    def op(self, opcode: int, n_in: int, out: tuple[str, int] | None = None) -> None:
        self.code.append(opcode)
        del self.stack[len(self.stack) - n_in:]
        if out is not None:
            self.stack.append(out)

    def push(self, value: int, name: str = "tmp", bound: int = 1) -> None:
        if value == 0:
            self.code.append(_PUSH0)
        else:
            n = (value.bit_length() + 7) // 8
            self.code += bytes([_PUSH0 + n]) + value.to_bytes(n, "big")
        self.stack.append((name, bound))

    def jump_if_to_revert(self) -> None:
        """JUMPI to the revert label (patched at the end) if the top word is nonzero."""
        self.code.append(_PUSH0 + 2)
        self.to_revert.append(len(self.code))
        self.code += b"\0\0"
        self.code.append(_JUMPI)
        del self.stack[-1:]

    def depth(self, name: str) -> int:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == name:
                return len(self.stack) - i
        raise KeyError(name)

    def dup_at(self, d: int, name: str = "tmp") -> None:
        assert 1 <= d <= 16, f"stack too deep ({d})"
        self.code.append(_DUP1 + d - 1)
        self.stack.append((name, self.stack[-d][1]))

    def dup(self, name: str) -> None:
        self.dup_at(self.depth(name))

    def swap(self, d: int) -> None:
        assert 1 <= d <= 16, f"stack too deep ({d})"
        self.code.append(_SWAP1 + d - 1)
        self.stack[-1], self.stack[-1 - d] = self.stack[-1 - d], self.stack[-1]

    def times_const(self, var: str, c: int) -> None:
        """Push c * var mod P."""
        self.dup("P")
        self.dup(var)
        self.push(c)
        self.op(_MUL_MOD, 3, ("tmp", 1))

    def add_top(self) -> None:
        """Replace the two top words by their sum, reduced only if its bound needs it."""
        bound = self.stack[-1][1] + self.stack[-2][1]
        if bound <= LIMIT:
            self.op(_ADD, 2, ("tmp", bound))
        else:
            self.dup("P")
            self.swap(2)
            self.op(_ADD_MOD, 3, ("tmp", 1))

    def pow5_top(self) -> None:
        """Replace the top word x by x^5 mod P (three MULMODs)."""
        self.dup("P")
        self.dup_at(2)
        self.dup_at(1)
        self.op(_MUL_MOD, 3, ("tmp", 1))  # x, x^2
        self.dup("P")
        self.swap(1)
        self.dup_at(1)
        self.op(_MUL_MOD, 3, ("tmp", 1))  # x, x^4
        self.dup("P")
        self.swap(2)
        self.op(_MUL_MOD, 3, ("tmp", 1))  # x^5

    def assign(self, name: str) -> None:
        """The top word becomes variable ``name``; its old value is dropped."""
        d = self.depth(name)
        bound = self.stack[-1][1]
        self.swap(d - 1)
        self.op(_POP, 1)
        self.stack[-(d - 1)] = (name, bound)


def _names(t: int) -> list[str]:
    return [f"s{i}" for i in range(t)]


def _full_round(a: _Asm, t: int, consts: Sequence[int] | None,
                rows: Sequence[Sequence[int]], last: bool) -> None:
    """S-box on every word (+ constants), then the matrix; the last round only row 0."""
    names = _names(t)
    for i, s in enumerate(names):
        a.dup(s)
        a.pow5_top()
        if consts is not None:
            a.push(consts[i])
            a.add_top()
        a.assign(s)
    bounds: list[int] = []
    for i in range(1 if last else t):
        for j, s in enumerate(names):
            a.times_const(s, rows[i][j])
            if j:
                a.add_top()
        if last:
            return
        bounds.append(a.stack[-1][1])
        a.push(32 * i)
        a.op(_MSTORE, 2)
    for _ in range(t):
        a.op(_POP, 1)
    for i in reversed(range(t)):
        a.push(32 * i)
        a.op(_MLOAD, 1, (names[i], bounds[i]))


def _partial_round(a: _Asm, t: int, c: int, w: Sequence[int], v: Sequence[int]) -> None:
    """x = s0^5 + c; s0 = w . (x, s1..); s_k += x * v_k (s0 is the top word)."""
    names = _names(t)
    a.pow5_top()
    a.push(c)
    a.add_top()
    a.stack[-1] = ("x", a.stack[-1][1])
    a.dup("P")
    a.dup("x")
    a.dup("w0")
    a.op(_MUL_MOD, 3, ("tmp", 1))
    for j in range(1, t):
        a.times_const(names[j], w[j])
        a.add_top()
    a.stack[-1] = ("n0", a.stack[-1][1])
    for k in range(1, t):
        a.times_const("x", v[k - 1])
        a.dup(names[k])
        a.add_top()
        a.assign(names[k])
    a.swap(1)
    a.op(_POP, 1)
    a.stack[-1] = ("s0", a.stack[-1][1])


@dataclass(frozen=True)
class Stage:
    """One contract of a Poseidon(n): its runtime code, the next stage's address slot."""

    runtime: bytes
    next_at: int | None

    def initcode(self, next_address: str | None = None) -> bytes:
        code = bytearray(self.runtime)
        if self.next_at is not None:
            if next_address is None:
                raise ValueError("this stage calls the next one: give its address")
            code[self.next_at:self.next_at + 20] = bytes.fromhex(next_address.removeprefix("0x"))
        n = len(code)
        assert n <= CODE_LIMIT
        head = bytes([_PUSH0 + 2, n >> 8, n & 0xFF, _PUSH0 + 1, 13, _PUSH0, _CODECOPY,
                      _PUSH0 + 2, n >> 8, n & 0xFF, _PUSH0, _RETURN, 0x00])
        # PUSH2 n, PUSH1 13, PUSH0, CODECOPY(0, 13, n); PUSH2 n, PUSH0, RETURN(0, n); pad
        return head + bytes(code)


def _prologue(a: _Asm, n: int, w0: int, first_ark: Sequence[int] | None) -> None:
    """Stage 0 (``first_ark`` given): check selector and length, state = (0, inputs) +
    constants mod P. A later stage: the state is its calldata."""
    t = n + 1
    if first_ark is not None:
        sel = function_signature_to_4byte_selector(f"poseidon(uint256[{n}])")
        a.push(0)
        a.op(_CALLDATALOAD, 1, ("tmp", _RAW))
        a.push(0xE0)
        a.op(_SHR, 2, ("tmp", _RAW))
        a.push(int.from_bytes(sel, "big"))
        a.op(_EQ, 2, ("tmp", 1))
        a.op(_ISZERO, 1, ("tmp", 1))
        a.jump_if_to_revert()
        a.op(_CALLDATASIZE, 0, ("tmp", _RAW))
        a.push(4 + 32 * n)
        a.op(_EQ, 2, ("tmp", 1))
        a.op(_ISZERO, 1, ("tmp", 1))
        a.jump_if_to_revert()
    a.push(P, "P")
    a.push(w0, "w0")
    for i in reversed(range(t)):
        if first_ark is None:
            a.push(32 * i)
            a.op(_CALLDATALOAD, 1, (f"s{i}", LIMIT))
        elif i == 0:
            a.push(first_ark[0], "s0")
        else:
            a.push(first_ark[i])
            a.push(4 + 32 * (i - 1))
            a.op(_CALLDATALOAD, 1, ("tmp", _RAW))
            a.add_top()
            a.stack[-1] = (f"s{i}", 1)


def _finish(a: _Asm, t: int, *, calls_next: bool) -> bytes:
    """Return the output word, or hand the state to the next stage and return its answer."""
    if calls_next:
        for i in range(t):
            a.dup(f"s{i}")
            a.push(32 * i)
            a.op(_MSTORE, 2)
        a.push(32)
        a.push(0)
        a.push(32 * t)
        a.push(0)
        a.code.append(_PUSH20)
        a.next_at = len(a.code)
        a.code += bytes(20)
        a.stack.append(("next", 1))
        a.op(_GAS, 0, ("gas", 1))
        a.op(_STATICCALL, 6, ("ok", 1))
        a.op(_ISZERO, 1, ("tmp", 1))
        a.jump_if_to_revert()
    else:
        if a.stack[-1][1] > 1:
            a.dup("P")
            a.swap(1)
            a.op(_MOD, 2, ("out", 1))
        a.push(0)
        a.op(_MSTORE, 2)
    a.push(32)
    a.push(0)
    a.op(_RETURN, 2)
    label = len(a.code)
    a.code += bytes([_JUMPDEST, _PUSH0, _PUSH0, _REVERT])
    for at in a.to_revert:
        a.code[at:at + 2] = label.to_bytes(2, "big")
    return bytes(a.code)


@functools.cache
def stages(n: int) -> tuple[Stage, ...]:
    """The stages of Poseidon(n) (n = 1..6 inputs), stage 0 first."""
    if not 1 <= n <= MAX_INPUTS:
        raise ValueError(f"Poseidon takes 1..{MAX_INPUTS} inputs, not {n}")
    t = n + 1
    k = round_schedule(t)
    w0s = {w[0] for _, w, _ in k.partial}
    assert len(w0s) == 1, "the sparse rows' first entry is one constant"
    (w0,) = w0s
    rounds: list[Callable[[_Asm], None]] = []
    for consts, rows in k.first_full:
        rounds.append(functools.partial(_full_round, t=t, consts=consts, rows=rows, last=False))
    for c, w, v in k.partial:
        rounds.append(functools.partial(_partial_round, t=t, c=c, w=w, v=v))
    for consts in k.last_full:
        rounds.append(functools.partial(_full_round, t=t, consts=consts, rows=k.mds_rows,
                                        last=False))
    rounds.append(functools.partial(_full_round, t=t, consts=None, rows=k.mds_rows, last=True))

    out: list[tuple[bytes, int | None]] = []
    a = _Asm()
    _prologue(a, n, w0, k.first_ark)
    for step in rounds:
        trial = copy.deepcopy(a)
        step(trial)
        if len(trial.code) > _STAGE_BUDGET:
            code = _finish(a, t, calls_next=True)
            out.append((code, a.next_at))
            a = _Asm()
            _prologue(a, n, w0, None)
            step(a)
        else:
            a = trial
    out.append((_finish(a, t, calls_next=False), None))
    for code, _ in out:
        assert len(code) <= CODE_LIMIT, len(code)
    return tuple(Stage(code, at) for code, at in out)
