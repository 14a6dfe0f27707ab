"""Verifiers: Groth16 in Python (py-ecc) and on-chain through the generated Solidity verifier.

The Python verifier's public API; the implementation lives in :mod:`.groth16`.
"""

from zkclear.verifier.groth16 import Proof, VerifyingKey, check, parse_public, verify
from zkclear.verifier.onchain import (
    InsecureSetupError,
    OnchainVerifier,
    deploy_for_keys,
    deploy_verifier,
    export_verifier,
)

__all__ = [
    "InsecureSetupError",
    "OnchainVerifier",
    "Proof",
    "VerifyingKey",
    "check",
    "deploy_for_keys",
    "deploy_verifier",
    "export_verifier",
    "parse_public",
    "verify",
]
