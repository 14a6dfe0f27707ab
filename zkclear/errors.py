"""The exception hierarchy: every user-facing failure is a ZkclearError with a clear message."""

from __future__ import annotations


class ZkclearError(Exception):
    """Base of every error zkclear raises on purpose (the CLI prints these without a traceback)."""


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
