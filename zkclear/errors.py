"""The exception hierarchy: every exception zkclear defines is a :class:`ZkclearError`.

A ZkclearError's message is written for the user: the CLI prints it as one line and
exits non-zero, the operator API answers it in its JSON error shape. Each module raises
its own subclass (listed below with the module, without ``zkclear.``), directly under
ZkclearError or under a branch that groups one kind of failure: :class:`ToolError` (an
external tool failed), ``TransportError`` (a sealed message is refused), ``RecoverError``
(the operator cannot rebuild its state from the chain), ``MemberError``, ``ParamsError``,
``PoolError`` and ``TradeError``. Errors about a value out of range are also ValueErrors,
so code that checks values can catch them as such. Private classes (``_Name``) are left
out of the drawing; ``tests/packaging/test_errors.py`` checks that every exception class in the
package derives from ZkclearError and that this drawing is the tree as it is (it prints
the new drawing when it is not)::

    ZkclearError                      errors
    ├── ArtefactError                 errors
    ├── AuctionError                  clearing.auction; also ValueError
    │   ├── BidNotMargined            clearing.auction
    │   └── LotMismatch               clearing.auction
    ├── AuditError                    audit.report
    ├── BoundError                    field; also ValueError
    ├── CeremonyError                 prover.ceremony
    ├── ChainDataError                audit.chainview
    ├── ContractError                 chain.reverts
    ├── DecryptionError               privacy.cipher
    ├── DemoError                     demo_keys
    ├── DeploymentError               chain.deployment
    ├── EpochError                    clearing.epoch; also ValueError
    ├── EscrowError                   privacy.compliance
    ├── ExitError                     roles.exit
    ├── FieldError                    field; also ValueError
    ├── InsecureSetupError            verifier.onchain
    ├── InstrumentError               clearing.instruments; also ValueError
    ├── KeyFileError                  privacy.keyfile
    ├── MemberError                   roles.member
    │   ├── BidError                  roles.auction
    │   └── ResultMismatchError       roles.member
    ├── PackingError                  clearing.public; also ValueError
    ├── ParamsError                   clearing.params; also ValueError
    │   ├── MarginError               clearing.margin
    │   └── SpanError                 clearing.span
    ├── PoolError                     chain.orders
    │   └── CommitRefused             chain.orders
    ├── ProofError                    errors
    ├── RecoverError                  operator.recover
    │   ├── EscrowOpenError           operator.recover
    │   ├── ReplayMismatchError       operator.recover
    │   └── ReportOpenError           operator.recover
    ├── RoleError                     roles.admin
    ├── ServiceError                  operator.errors
    ├── ShareError                    privacy.shamir
    ├── StoreError                    operator.store
    ├── StressError                   clearing.stress.inputs
    │   └── StressInputError          clearing.stress.inputs; also ValueError
    ├── ToolError                     errors
    │   ├── CompileError              errors
    │   ├── ToolMissingError          errors
    │   ├── ToolTimeoutError          prover._node
    │   ├── WitnessError              errors
    │   └── WorkerCallError           prover._node
    ├── TradeError                    clearing.intake; also ValueError
    │   └── NettingBoundError         clearing.netting; also BoundError
    ├── TradeLossError                clearing.slot; also ValueError
    └── TransportError                privacy.transport
        ├── ReplayError               privacy.transport
        ├── TamperedError             privacy.transport
        ├── UnknownMemberError        privacy.transport
        └── WrongRecipientError       privacy.transport
"""

from __future__ import annotations


class ZkclearError(Exception):
    """Base of every error zkclear raises on purpose (the CLI prints these without a traceback).

    Every one pickles, whatever its ``__init__`` takes (its message and attributes are
    restored as they are): a proving job's error crosses from a Ray worker to the driver.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.__class__, self.args, dict(self.__dict__)))


def _rebuild(cls: type[ZkclearError], args: tuple[object, ...],
             state: dict[str, object]) -> ZkclearError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ToolError(ZkclearError):
    """An external tool (node, circom2, snarkjs, solc) failed or is missing.

    ``step`` names what was being done (``compile``, ``witness``, ``setup``, ``prove`` ...),
    ``subject`` the circuit or file it was done to, and ``detail`` the tool's own message.
    """

    def __init__(self, step: str, subject: str, detail: str, hint: str = "") -> None:
        self.step, self.subject, self.detail, self.hint = step, subject, detail.strip(), hint
        msg = f"{step} failed for {subject}: {self.detail}"
        if hint:
            msg += f"\n  hint: {hint}"
        super().__init__(msg)


class ToolMissingError(ToolError):
    """node, npm or a pinned node package is not installed."""


class CompileError(ToolError):
    """circom2 rejected a circuit."""


class WitnessError(ToolError):
    """The inputs do not satisfy the circuit (a circom assert or constraint failed)."""

    def __init__(self, subject: str, detail: str, template: str | None, line: int | None) -> None:
        self.template, self.line = template, line
        where = f" (template {template}, line {line})" if template else ""
        super().__init__("witness", subject, detail + where)


class ArtefactError(ZkclearError):
    """A cached or user-supplied artefact (ptau, zkey, vkey, proof) is corrupt or mismatched."""


class ProofError(ZkclearError):
    """A proof did not verify, or is malformed."""
