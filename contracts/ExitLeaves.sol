// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {IExitHouse, IExitLeaves} from "./interfaces/IExitLeaves.sol";

/// @title The leaf check of an exit after a freeze (docs/protocol.md, "Freeze and escape").
/// @notice Created by its ClearingHouse in its constructor; a contract of its own so that
/// the house stays below the 24 KiB code-size limit (as LotAuction). Views only: they read
/// the house's last exit-data hash and total collateral; the house credits what they
/// return and keeps every piece of state (exited, claimable, pending deposits).
contract ExitLeaves is PoseidonHasher, IExitLeaves {
    IExitHouse public immutable clearingHouse;
    uint256 public immutable nSlots;
    uint256 public immutable nInstruments;

    constructor(address[6] memory poseidons, uint256 nSlots_, uint256 nInstruments_) PoseidonHasher(poseidons) {
        clearingHouse = IExitHouse(msg.sender);
        nSlots = nSlots_;
        nInstruments = nInstruments_;
    }

    /// Checks exit data against the house's stored hash; returns the house's signed
    /// collateral.
    function houseCollateral(uint256[] calldata exitData) public view returns (int256) {
        bytes32 storedHash = clearingHouse.lastExitDataHash();
        if (exitData.length != nSlots + 1) revert WrongExitDataLength(exitData.length, nSlots + 1);
        bytes32 h = keccak256(abi.encode(exitData));
        if (h != storedHash) revert ExitDataMismatch(h, storedHash);
        uint256 x = exitData[nSlots];
        return x > FIELD_R / 2 ? -int256(FIELD_R - x) : int256(x);
    }

    /// What the slot's leaf (c, q, df, vkh, nonce) pays if it is the published one: c + df,
    /// or pro rata (c + df) * T / (T - c0) if the house's c0 is negative (T: the house's
    /// total collateral).
    function leafAmount(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh, uint256 nonce,
                        uint256[] calldata exitData)
        external
        view
        returns (uint256, bool)
    {
        uint256 leaf = _leafHash(c, q, df, vkh, nonce);
        return _openLeaf(slot, leaf, uint256(c) + df, exitData);
    }

    function _openLeaf(uint256 slot, uint256 leafHash, uint256 c, uint256[] calldata exitData)
        private
        view
        returns (uint256 amount, bool haircut)
    {
        int256 c0 = houseCollateral(exitData);
        if (leafHash != exitData[slot]) revert LeafMismatch(slot, leafHash, exitData[slot]);
        amount = c;
        if (c0 < 0) {
            uint256 total = clearingHouse.totalCollateral();
            amount = amount * total / (total + uint256(-c0));
            haircut = true;
        }
    }

    /// PoseidonChain(c, q[0..M-1], df, vkh, 1, nonce): a member leaf (values range-checked).
    function _leafHash(int256 c, int256[] calldata q, uint256 df, uint256 vkh, uint256 nonce)
        private
        view
        returns (uint256)
    {
        uint256 m = nInstruments;
        if (q.length != m) revert WrongPositionCount(q.length, m);
        if (c < 0) revert NegativeCollateral(c);
        if (c >= int256(1 << CASH_BITS)) revert ExitValueOutOfRange(c);
        if (df >> CASH_BITS != 0) revert ExitValueOutOfRange(int256(df));
        uint256[] memory leaf = new uint256[](m + 5);
        leaf[0] = uint256(c);
        int256 bound = int256(1 << DELTA_BITS);
        for (uint256 i = 0; i < m; i++) {
            if (q[i] <= -bound || q[i] >= bound) revert ExitValueOutOfRange(q[i]);
            leaf[1 + i] = _signedToField(q[i]);
        }
        leaf[m + 1] = df;
        leaf[m + 2] = vkh;
        leaf[m + 3] = 1;
        leaf[m + 4] = nonce;
        return _poseidonChain(leaf);
    }
}
