// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @title EIP-191 digests and canonical signatures: the clearing house's (members' commits
/// and deposits) and the oracle's (reporters' signed posts).
library Signatures {
    /// Largest s of a canonical (low-s) secp256k1 signature.
    uint256 internal constant SECP256K1_HALF_N =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// keccak256("\x19Ethereum Signed Message:\n32" || inner): eth_sign of 32 bytes.
    function eip191(bytes32 inner) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", inner));
    }

    /// The signer of `digest`; address(0) for a malleable (high-s) signature, a v not
    /// 27/28, or one ecrecover refuses.
    function recover(bytes32 digest, uint8 v, bytes32 r, bytes32 s) internal pure returns (address) {
        if (uint256(s) > SECP256K1_HALF_N || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
