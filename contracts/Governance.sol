// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {IGovernance} from "./interfaces/IGovernance.sol";

/// @title The pool's admin: an M-of-N multisig with a time-lock.
/// @notice Owners propose a list of calls; once `threshold` owners have confirmed it, the
/// proposal is queued with eta = now + `delay`, and from eta anyone may execute it (all
/// calls, atomically). Risk parameters, membership, oracle reporters and limits and the
/// operator are only changed this way, so members see every change `delay` seconds
/// before it takes effect (and can withdraw if they disagree). The owner set, threshold
/// and delay are changed by proposals calling this contract itself.
contract Governance is IGovernance {
    struct Proposal {
        address proposer;
        uint64 eta; // 0 until queued
        uint32 confirmations;
        bool executed;
    }

    /// Longest time-lock (so a typo cannot lock governance out for decades).
    uint256 public constant MAX_DELAY = 365 days;

    uint256 public threshold;
    uint256 public delay;
    uint256 public ownerCount;
    uint256 public proposalCount;
    mapping(address => bool) public isOwner;
    mapping(uint256 => Proposal) public proposals;
    mapping(uint256 => mapping(address => bool)) public confirmedBy;
    mapping(uint256 => Call[]) private _calls;

    constructor(address[] memory owners, uint256 threshold_, uint256 delay_) {
        for (uint256 i = 0; i < owners.length; i++) _addOwner(owners[i]);
        _setThreshold(threshold_);
        _setDelay(delay_);
    }

    modifier onlyOwner() {
        if (!isOwner[msg.sender]) revert NotOwner(msg.sender);
        _;
    }

    modifier onlySelf() {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _;
    }

    // --- proposals ---------------------------------------------------------------------

    /// Propose `calls` (the proposer's confirmation is counted); returns the proposal id.
    function propose(Call[] calldata calls) external onlyOwner returns (uint256 id) {
        if (calls.length == 0) revert EmptyProposal();
        id = ++proposalCount;
        proposals[id].proposer = msg.sender;
        for (uint256 i = 0; i < calls.length; i++) _calls[id].push(calls[i]);
        emit Proposed(id, msg.sender, calls);
        _confirm(id);
    }

    function confirm(uint256 id) external onlyOwner {
        _proposal(id);
        _confirm(id);
    }

    /// Execute a queued proposal whose time-lock has expired (anyone may).
    function execute(uint256 id) external {
        Proposal storage p = _proposal(id);
        if (p.executed) revert AlreadyExecuted(id);
        if (p.eta == 0) revert NotApproved(id, p.confirmations, threshold);
        if (block.timestamp < p.eta) revert TimelockNotExpired(id, p.eta, block.timestamp);
        p.executed = true;
        Call[] storage calls = _calls[id];
        for (uint256 i = 0; i < calls.length; i++) {
            (bool ok, bytes memory reason) = calls[i].target.call(calls[i].data);
            if (!ok) revert CallFailed(id, i, reason);
        }
        emit Executed(id);
    }

    function callsOf(uint256 id) external view returns (Call[] memory) {
        _proposal(id);
        return _calls[id];
    }

    // --- self-administration (through proposals) ----------------------------------------

    function addOwner(address owner) external onlySelf {
        _addOwner(owner);
    }

    function removeOwner(address owner) external onlySelf {
        if (!isOwner[owner]) revert NotOwner(owner);
        if (ownerCount - 1 < threshold) revert InvalidThreshold(threshold, ownerCount - 1);
        isOwner[owner] = false;
        ownerCount -= 1;
        emit OwnerRemoved(owner);
    }

    function setThreshold(uint256 threshold_) external onlySelf {
        _setThreshold(threshold_);
    }

    function setDelay(uint256 delay_) external onlySelf {
        _setDelay(delay_);
    }

    // --- internals ---------------------------------------------------------------------

    function _proposal(uint256 id) private view returns (Proposal storage p) {
        if (id == 0 || id > proposalCount) revert UnknownProposal(id);
        p = proposals[id];
    }

    function _confirm(uint256 id) private {
        Proposal storage p = proposals[id];
        if (p.executed) revert AlreadyExecuted(id);
        if (confirmedBy[id][msg.sender]) revert AlreadyConfirmed(id, msg.sender);
        confirmedBy[id][msg.sender] = true;
        p.confirmations += 1;
        emit Confirmed(id, msg.sender, p.confirmations);
        if (p.eta == 0 && p.confirmations >= threshold) {
            p.eta = uint64(block.timestamp + delay);
            emit Queued(id, p.eta);
        }
    }

    function _addOwner(address owner) private {
        if (owner == address(0)) revert NotOwner(owner);
        if (isOwner[owner]) revert AlreadyOwner(owner);
        isOwner[owner] = true;
        ownerCount += 1;
        emit OwnerAdded(owner);
    }

    function _setThreshold(uint256 threshold_) private {
        if (threshold_ == 0 || threshold_ > ownerCount) revert InvalidThreshold(threshold_, ownerCount);
        threshold = threshold_;
        emit ThresholdSet(threshold_);
    }

    function _setDelay(uint256 delay_) private {
        if (delay_ > MAX_DELAY) revert InvalidDelay(delay_, MAX_DELAY);
        delay = delay_;
        emit DelaySet(delay_);
    }
}
