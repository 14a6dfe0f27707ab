"""Verifiers: Groth16 in Python (py-ecc) and on-chain through the generated Solidity verifier."""
