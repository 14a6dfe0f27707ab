// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @title Functions only the pool's governance (the Governance multisig) may call.
/// @notice Governance's own M-of-N threshold and time-lock apply before any such call
/// arrives here; this contract only checks the caller.
abstract contract Governed {
    error NotGovernance(address caller);
    error ZeroAddress();

    address public immutable governance;

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
    }

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }
}
