// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {IExitLeaves} from "./interfaces/IExitLeaves.sol";

/// @title The epoch's exit data: its check at submitEpoch, and the leaf check of an exit
/// after a freeze (docs/protocol.md, "Freeze and escape").
/// @notice Deployed before its ClearingHouse, which takes its address (a contract of its
/// own so that the house stays below the 24 KiB code-size limit and its creation code
/// below the 48 KiB initcode limit). Stateless: the house passes its last exit-data hash
/// and total collateral, credits what these views return and keeps every piece of state
/// (exited, claimable, pending deposits).
contract ExitLeaves is PoseidonHasher, IExitLeaves {
    uint256 public immutable nSlots;
    uint256 public immutable nInstruments;
    /// Exit-data words per slot mask, ceil(nSlots / MASK_WORD_BITS), and the exit data's
    /// length: N leaves, the house's collateral, the liquidated and granted masks' words.
    uint256 internal immutable _maskWords;
    uint256 internal immutable _exitDataLength;

    constructor(address[6] memory poseidons, uint256 nSlots_, uint256 nInstruments_) PoseidonHasher(poseidons) {
        nSlots = nSlots_;
        nInstruments = nInstruments_;
        _maskWords = (nSlots_ + MASK_WORD_BITS - 1) / MASK_WORD_BITS;
        _exitDataLength = nSlots_ + 1 + 2 * _maskWords;
    }

    /// submitEpoch's exit data D: N + 1 + 2W canonical field elements (the new leaves, the
    /// house's collateral, the liquidated and granted masks in W words of MASK_WORD_BITS
    /// bits, low slots first); the proof's challenge rho must be the one derived from it
    /// (Fiat-Shamir over the epoch, newRoot and D) and its exitSum sum_j D[j] * rho^j mod
    /// r, so the proof binds D to its own values. Returns the masks (the proof shows each
    /// word is the sum of its slots' bits, so each is below 2^MASK_WORD_BITS).
    function checkExitData(uint256 epoch, uint256 newRoot, uint256 rhoGiven, uint256 exitSum,
                           uint256[] calldata d) external view returns (uint256 liquidated, uint256 granted)
    {
        uint256 w = _maskWords;
        uint256 len = _exitDataLength;
        if (d.length != len) revert ExitDataLength(d.length, len);
        for (uint256 j = 0; j < len; j++) {
            if (d[j] >= FIELD_R) revert ExitDataNotCanonical(j);
        }
        uint256 rho = uint256(keccak256(abi.encode(epoch, newRoot, d))) >> (256 - RHO_BITS);
        if (rhoGiven != rho) revert ExitChallengeMismatch(rhoGiven, rho);
        uint256 acc = 0;
        for (uint256 j = len; j > 0; j--) {
            acc = addmod(mulmod(acc, rho, FIELD_R), d[j - 1], FIELD_R);
        }
        if (exitSum != acc) revert ExitSumMismatch(exitSum, acc);
        for (uint256 k = 0; k < w; k++) {
            liquidated |= d[nSlots + 1 + k] << (MASK_WORD_BITS * k);
            granted |= d[nSlots + 1 + w + k] << (MASK_WORD_BITS * k);
        }
    }

    /// Checks exit data against the house's stored hash; returns the house's signed
    /// collateral.
    function houseCollateral(uint256[] calldata exitData, bytes32 storedHash) public view returns (int256) {
        uint256 want = _exitDataLength;
        if (exitData.length != want) revert WrongExitDataLength(exitData.length, want);
        bytes32 h = keccak256(abi.encode(exitData));
        if (h != storedHash) revert ExitDataMismatch(h, storedHash);
        uint256 x = exitData[nSlots];
        return x > FIELD_R / 2 ? -int256(FIELD_R - x) : int256(x);
    }

    /// What the slot's leaf (c, q, df, vkh, nonce) pays if it is the published one: c + df,
    /// or pro rata (c + df) * T / (T - c0) if the house's c0 is negative (T: the house's
    /// total collateral). `house` is the house's (lastExitDataHash, totalCollateral).
    function leafAmount(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh, uint256 nonce,
                        uint256[] calldata exitData, uint256[2] calldata house)
        external
        view
        returns (uint256, bool)
    {
        uint256 leaf = _leafHash(c, q, df, vkh, nonce);
        return _openLeaf(slot, leaf, uint256(c) + df, exitData, house);
    }

    function _openLeaf(uint256 slot, uint256 leafHash, uint256 c, uint256[] calldata exitData,
                       uint256[2] calldata house)
        private
        view
        returns (uint256 amount, bool haircut)
    {
        int256 c0 = houseCollateral(exitData, bytes32(house[0]));
        if (leafHash != exitData[slot]) revert LeafMismatch(slot, leafHash, exitData[slot]);
        amount = c;
        if (c0 < 0) {
            uint256 total = house[1];
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
