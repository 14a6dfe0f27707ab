// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Constants} from "./Constants.sol";
import {IPoseidon2, IPoseidon4} from "../interfaces/IPoseidon.sol";

/// @title Poseidon and PoseidonChain through circomlibjs's generated Poseidon contracts.
/// @notice `poseidons[n - 1]` must be the contract for n inputs (n = 1..6). Hashes equal
/// circomlib's Poseidon(n) and zkclear.poseidon; PoseidonChain(v) is Poseidon(v) for up to
/// 6 values, else Poseidon(v[0..5]) and then acc = Poseidon(acc, next <= 5 values) until v
/// is used up (docs/protocol.md, "Hashing"). zkclear.contracts checks every arity against
/// the Python implementation right after deployment.
abstract contract PoseidonHasher is Constants {
    error PoseidonArity(uint256 n);
    error PoseidonCallFailed(uint256 n);
    error NotAFieldElement(uint256 value);

    address internal immutable POSEIDON_1;
    address internal immutable POSEIDON_2;
    address internal immutable POSEIDON_3;
    address internal immutable POSEIDON_4;
    address internal immutable POSEIDON_5;
    address internal immutable POSEIDON_6;

    constructor(address[6] memory poseidons) {
        for (uint256 i = 0; i < 6; i++) {
            if (poseidons[i].code.length == 0) revert PoseidonCallFailed(i + 1);
        }
        POSEIDON_1 = poseidons[0];
        POSEIDON_2 = poseidons[1];
        POSEIDON_3 = poseidons[2];
        POSEIDON_4 = poseidons[3];
        POSEIDON_5 = poseidons[4];
        POSEIDON_6 = poseidons[5];
    }

    /// The Poseidon contracts, by arity (for clients and checks).
    function poseidonContracts() external view returns (address[6] memory) {
        return [POSEIDON_1, POSEIDON_2, POSEIDON_3, POSEIDON_4, POSEIDON_5, POSEIDON_6];
    }

    /// Poseidon(a, b, c, d): the events accumulator's step, called directly (hot path).
    function _poseidon4(uint256 a, uint256 b, uint256 c, uint256 d) internal view returns (uint256) {
        return IPoseidon4(POSEIDON_4).poseidon([a, b, c, d]);
    }

    /// Poseidon(a, b) (inputs must be field elements: the contract reduces silently).
    function _poseidon2(uint256 a, uint256 b) internal view returns (uint256) {
        if (a >= FIELD_R) revert NotAFieldElement(a);
        if (b >= FIELD_R) revert NotAFieldElement(b);
        return IPoseidon2(POSEIDON_2).poseidon([a, b]);
    }

    /// Poseidon of xs[start .. start + n - 1] (1 <= n <= 6).
    function _poseidon(uint256[] memory xs, uint256 start, uint256 n) internal view returns (uint256) {
        address target;
        bytes4 selector;
        if (n == 1) (target, selector) = (POSEIDON_1, bytes4(keccak256("poseidon(uint256[1])")));
        else if (n == 2) (target, selector) = (POSEIDON_2, bytes4(keccak256("poseidon(uint256[2])")));
        else if (n == 3) (target, selector) = (POSEIDON_3, bytes4(keccak256("poseidon(uint256[3])")));
        else if (n == 4) (target, selector) = (POSEIDON_4, bytes4(keccak256("poseidon(uint256[4])")));
        else if (n == 5) (target, selector) = (POSEIDON_5, bytes4(keccak256("poseidon(uint256[5])")));
        else if (n == 6) (target, selector) = (POSEIDON_6, bytes4(keccak256("poseidon(uint256[6])")));
        else revert PoseidonArity(n);
        bytes memory data = new bytes(4 + 32 * n);
        assembly ("memory-safe") {
            mstore(add(data, 32), selector)
            let src := add(add(xs, 32), mul(start, 32))
            let dst := add(data, 36)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(dst, mul(i, 32)), mload(add(src, mul(i, 32))))
            }
        }
        (bool ok, bytes memory ret) = target.staticcall(data);
        if (!ok || ret.length != 32) revert PoseidonCallFailed(n);
        return abi.decode(ret, (uint256));
    }

    /// PoseidonChain(xs): every element must be a canonical field element.
    function _poseidonChain(uint256[] memory xs) internal view returns (uint256) {
        uint256 len = xs.length;
        for (uint256 i = 0; i < len; i++) {
            if (xs[i] >= FIELD_R) revert NotAFieldElement(xs[i]);
        }
        if (len <= POSEIDON_MAX_INPUTS) return _poseidon(xs, 0, len);
        uint256 acc = _poseidon(xs, 0, POSEIDON_MAX_INPUTS);
        uint256[] memory chunk = new uint256[](POSEIDON_MAX_INPUTS);
        for (uint256 i = POSEIDON_MAX_INPUTS; i < len; i += POSEIDON_MAX_INPUTS - 1) {
            uint256 k = len - i < POSEIDON_MAX_INPUTS - 1 ? len - i : POSEIDON_MAX_INPUTS - 1;
            chunk[0] = acc;
            for (uint256 j = 0; j < k; j++) chunk[j + 1] = xs[i + j];
            acc = _poseidon(chunk, 0, k + 1);
        }
        return acc;
    }

    /// A signed integer as the field element the circuits use (x mod r).
    function _signedToField(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : FIELD_R - uint256(-x);
    }
}
