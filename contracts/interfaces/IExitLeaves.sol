// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice The leaf check of an exit after a freeze (docs/protocol.md, "Freeze and escape").
interface IExitLeaves {
    error ExitDataMismatch(bytes32 given, bytes32 expected);
    error WrongExitDataLength(uint256 length, uint256 expected);
    error WrongPositionCount(uint256 given, uint256 expected);
    error LeafMismatch(uint256 slot, uint256 leaf, uint256 expected);
    error NegativeCollateral(int256 collateral);
    error ExitValueOutOfRange(int256 value);

    function houseCollateral(uint256[] calldata exitData) external view returns (int256);
    function leafAmount(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh, uint256 nonce,
                        uint256[] calldata exitData)
        external
        view
        returns (uint256 amount, bool haircut);
}

/// @notice What ExitLeaves reads from its clearing house.
interface IExitHouse {
    function lastExitDataHash() external view returns (bytes32);
    function totalCollateral() external view returns (uint256);
}
