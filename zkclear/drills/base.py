"""What a drill is: an adversarial story run on the embedded EVM through the same
operator and member code a real pool uses, ending in a verdict with the money accounted
for. A drill passes only when no honest member lost anything and the pool either kept
clearing or every member got out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ledger:
    """Token holdings per party, before and after a drill (minor units).

    ``owed`` is what each party was owed at the start (its collateral and claims in the
    pool plus its wallet); ``final`` what it holds or can claim at the end. An honest
    party's loss is ``owed - final`` where positive; an attacker's gain is not netted
    against anyone's loss.
    """

    owed: dict[str, int] = field(default_factory=dict)
    final: dict[str, int] = field(default_factory=dict)
    honest: set[str] = field(default_factory=set)

    def loss(self, party: str) -> int:
        return max(0, self.owed.get(party, 0) - self.final.get(party, 0))

    def honest_loss(self) -> int:
        return sum(self.loss(p) for p in self.honest)

    def to_json(self) -> dict[str, Any]:
        return {p: {"owed": self.owed.get(p, 0), "final": self.final.get(p, 0),
                    "honest": p in self.honest, "loss": self.loss(p)}
                for p in sorted(set(self.owed) | set(self.final))}


@dataclass
class Verdict:
    name: str
    passed: bool
    summary: str
    story: list[str] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"drill": self.name, "passed": self.passed, "summary": self.summary,
                "story": self.story, "honest_loss": self.ledger.honest_loss(),
                "money": self.ledger.to_json(), "facts": self.facts}


class Story:
    """A drill's running log (``step``) and its checks (``check``: a failed check makes
    the verdict fail and says why)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.failures: list[str] = []
        self.ledger = Ledger()
        self.facts: dict[str, Any] = {}

    def step(self, line: str) -> None:
        self.lines.append(line)

    def check(self, ok: bool, what: str) -> bool:
        self.lines.append(("ok: " if ok else "FAILED: ") + what)
        if not ok:
            self.failures.append(what)
        return ok

    def verdict(self, summary: str) -> Verdict:
        loss = self.ledger.honest_loss()
        if loss:
            self.failures.append(f"honest members lost {loss}")
        passed = not self.failures
        return Verdict(self.name, passed,
                       summary if passed else f"{summary}; failed: {'; '.join(self.failures)}",
                       self.lines, self.ledger, self.facts)


DrillFn = Callable[[], Verdict]


def merge_trades(*parts: dict[int, list[Any]]) -> dict[int, list[Any]]:
    """Per-slot trade lists (``TradeReport``) joined, in order."""
    out: dict[int, list[Any]] = {}
    for p in parts:
        for slot, trades in p.items():
            out.setdefault(slot, []).extend(trades)
    return out


# -- the pool every drill starts from ------------------------------------------------------

#: Drill pools: N=4 slots (house + three members), M=2 instruments, K=4 scenarios.
DRILL_SLOTS, DRILL_INSTRUMENTS, DRILL_SCENARIOS = 4, 2, 4
DRILL_PRICES = (1_000, 1_100)


def drill_params() -> Any:
    """The drill pools' risk parameters (``demo_params``: prices up/down 5 % and 10 %, IM
    1.5 x MM, penalty 10 % of MM; no default fund)."""
    from zkclear.clearing.scenario import demo_params

    return demo_params(DRILL_INSTRUMENTS, DRILL_SCENARIOS)


def drill_pool(names: dict[int, str], compliance: Any = None, w3: Any = None,
               params: Any = None) -> Any:
    """A fresh pool on the embedded EVM (or ``w3``, a local chain) with INSECURE
    development keys (local chain only; cached after the first run), members registered
    in ``names``' slots with fresh view keys escrowed to ``compliance`` (an X25519KeyPair;
    default a fresh compliance key pair), risk parameters ``params`` (default
    :func:`drill_params`). Returns the :class:`zkclear.chain.pool.Pool`."""
    from zkclear.chain import node
    from zkclear.chain.pool import Member, deploy_pool
    from zkclear.clearing.params import PoolConfig
    from zkclear.privacy.keyfile import X25519KeyPair
    from zkclear.privacy.viewkeys import MemberKey
    from zkclear.prover import registry
    from zkclear.prover.circuit import compile_circuit
    from zkclear.prover.keys import dev_setup

    cfg = PoolConfig(DRILL_SLOTS, DRILL_INSTRUMENTS, DRILL_SCENARIOS)
    keys = dev_setup(compile_circuit(registry.epoch(cfg.n_slots, cfg.n_instruments,
                                                    cfg.n_scenarios, cfg.max_events)))
    w3 = w3 or node.embedded_web3()
    pool = deploy_pool(w3, keys, cfg, params or drill_params(), DRILL_PRICES,
                       allow_insecure=True)
    members = [Member(name, slot, pool.account(slot), MemberKey.generate(slot))
               for slot, name in sorted(names.items())]
    pool.register(members, compliance or X25519KeyPair.generate("compliance"))
    return pool


def pool_holdings(pool: Any, slot: int) -> int:
    """What the pool owes ``slot`` now: its collateral in the last accepted state plus
    what it can claim (pull payouts) -- read from the chain-checked off-chain twin."""
    owed = pool.state.leaves[slot].collateral
    house = pool.client.house
    if any(f.get("name") == "claimable" for f in house.abi):
        owed += int(house.functions.claimable(pool.account(slot)).call())
    return int(owed)
