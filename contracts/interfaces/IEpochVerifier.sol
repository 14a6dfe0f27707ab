// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

// The epoch circuit's public signals (clearing/public.py PUBLIC_NAMES; Constants.N_PUBLIC,
// checked against Python after every deployment): the one place Solidity fixes the count.
uint256 constant EPOCH_PUBLIC_INPUTS = 13;

/// @notice The Groth16 verifier snarkjs generates from the epoch circuit's zkey
/// (exported and renamed to EpochVerifier by zkclear.verifier.onchain). It returns false --
/// it does not revert -- for an invalid proof and also when it runs out of gas.
interface IEpochVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[EPOCH_PUBLIC_INPUTS] calldata pubSignals
    ) external view returns (bool);
}
