// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice M-of-N multisig with a time-lock: a proposal (a list of calls) is queued when
/// `threshold` current owners have confirmed it and may be executed `delay` seconds later,
/// until it expires; `threshold` current owners may cancel it.
interface IGovernance {
    struct Call {
        address target;
        bytes data;
    }

    error NotOwner(address caller);
    error NotSelf(address caller);
    error InvalidThreshold(uint256 threshold, uint256 owners);
    error AlreadyOwner(address owner);
    error UnknownProposal(uint256 id);
    error AlreadyConfirmed(uint256 id, address owner);
    error NotApproved(uint256 id, uint256 confirmations, uint256 threshold);
    error TimelockNotExpired(uint256 id, uint256 eta, uint256 nowTs);
    error AlreadyExecuted(uint256 id);
    error EmptyProposal();
    error InvalidDelay(uint256 delay, uint256 maxDelay);
    error CallFailed(uint256 id, uint256 index, bytes reason);
    error ProposalExpired(uint256 id, uint256 expiredAt);
    error ProposalIsCancelled(uint256 id);
    error AlreadyVotedCancel(uint256 id, address owner);
    error InvalidExpiry(uint256 expiry, uint256 minExpiry, uint256 maxExpiry);

    event OwnerAdded(address indexed owner);
    event OwnerRemoved(address indexed owner);
    event ThresholdSet(uint256 threshold);
    event DelaySet(uint256 delay);
    event Proposed(uint256 indexed id, address indexed proposer, Call[] calls);
    event Confirmed(uint256 indexed id, address indexed owner, uint256 confirmations);
    event Queued(uint256 indexed id, uint256 eta);
    event Executed(uint256 indexed id);
    event CancelVoted(uint256 indexed id, address indexed owner, uint256 votes);
    event Cancelled(uint256 indexed id);
    event ExpirySet(uint256 expiry);
}
