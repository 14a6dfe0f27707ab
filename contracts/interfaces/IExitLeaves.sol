// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice The epoch's exit data: its check when an epoch is submitted, and the leaf check
/// of an exit after a freeze (docs/protocol.md, "Freeze and escape").
interface IExitLeaves {
    error ExitDataMismatch(bytes32 given, bytes32 expected);
    error WrongExitDataLength(uint256 length, uint256 expected);
    error WrongPositionCount(uint256 given, uint256 expected);
    error LeafMismatch(uint256 slot, uint256 leaf, uint256 expected);
    error NegativeCollateral(int256 collateral);
    error ExitValueOutOfRange(int256 value);
    /// submitEpoch's exit data (checkExitData).
    error ExitDataLength(uint256 given, uint256 expected);
    error ExitDataNotCanonical(uint256 index);
    error ExitChallengeMismatch(uint256 given, uint256 expected);
    error ExitSumMismatch(uint256 given, uint256 expected);

    function checkExitData(uint256 epoch, uint256 newRoot, uint256 rhoGiven, uint256 exitSum,
                           uint256[] calldata d) external view returns (uint256 liquidated, uint256 granted);

    function nSlots() external view returns (uint256);
    function nInstruments() external view returns (uint256);
    function houseCollateral(uint256[] calldata exitData, bytes32 storedHash) external view returns (int256);
    function leafAmount(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh, uint256 nonce,
                        uint256[] calldata exitData, uint256[2] calldata house)
        external
        view
        returns (uint256 amount, bool haircut);
}
