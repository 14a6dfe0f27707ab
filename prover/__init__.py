"""Prover: compile circom circuits, run the trusted setup, and prove through snarkjs."""
