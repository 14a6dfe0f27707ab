"""Verifiers: Groth16 in Python (py-ecc) and on-chain through the generated Solidity verifier.

The Python verifier's public API; the implementation lives in :mod:`.groth16`.
"""

from zkclear.verifier.groth16 import Proof, VerifyingKey, check, parse_public, verify

__all__ = ["Proof", "VerifyingKey", "check", "parse_public", "verify"]
