// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {IGovernance} from "./interfaces/IGovernance.sol";

/// @title The pool's admin: an M-of-N multisig with a time-lock.
/// @notice Owners propose a list of calls; once `threshold` owners have confirmed it, the
/// proposal is queued with eta = now + `delay`, and from eta anyone may execute it (all
/// calls, atomically). Risk parameters, membership, oracle reporters and limits and the
/// operator are only changed this way, so members see every change `delay` seconds
/// before it takes effect (and can withdraw if they disagree). The owner set, threshold,
/// delay and expiry are changed by proposals calling this contract itself.
/// Hygiene: only confirmations (and cancel votes) of current owners count -- they are
/// counted again at execution, and an owner removed and added again starts afresh; a
/// proposal expires `expiry` seconds after it was proposed if not queued by then, or
/// after its eta if not executed by then; `threshold` current owners may cancel a
/// proposal that has not been executed (no time-lock: cancelling only stops a change).
contract Governance is IGovernance {
    struct Proposal {
        address proposer;
        uint64 eta; // 0 until queued
        uint32 confirmations; // given, including those that no longer count
        bool executed;
        uint64 proposedAt;
        bool cancelled;
    }

    /// Longest time-lock (so a typo cannot lock governance out for decades).
    uint256 public constant MAX_DELAY = 365 days;
    /// Bounds and initial value of a proposal's lifetime (before queueing and after eta).
    uint256 public constant MIN_EXPIRY = 1 hours;
    uint256 public constant MAX_EXPIRY = 365 days;
    uint256 public constant DEFAULT_EXPIRY = 14 days;

    uint256 public threshold;
    uint256 public delay;
    uint256 public expiry;
    uint256 public ownerCount;
    uint256 public proposalCount;
    mapping(address => bool) public isOwner;
    /// Incremented each time an account becomes an owner; votes record it.
    mapping(address => uint256) public ownerGeneration;
    mapping(uint256 => Proposal) public proposals;
    mapping(uint256 => Call[]) private _calls;
    mapping(uint256 => address[]) private _confirmers;
    mapping(uint256 => mapping(address => uint256)) private _confirmedAs;
    mapping(uint256 => address[]) private _cancellers;
    mapping(uint256 => mapping(address => uint256)) private _cancelledAs;

    constructor(address[] memory owners, uint256 threshold_, uint256 delay_) {
        for (uint256 i = 0; i < owners.length; i++) _addOwner(owners[i]);
        _setThreshold(threshold_);
        _setDelay(delay_);
        _setExpiry(DEFAULT_EXPIRY);
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
        proposals[id].proposedAt = uint64(block.timestamp);
        for (uint256 i = 0; i < calls.length; i++) _calls[id].push(calls[i]);
        emit Proposed(id, msg.sender, calls);
        _confirm(id);
    }

    function confirm(uint256 id) external onlyOwner {
        _live(_proposal(id), id);
        _confirm(id);
    }

    /// Vote to cancel a proposal not yet executed; `threshold` current owners cancel it.
    function cancel(uint256 id) external onlyOwner {
        Proposal storage p = _proposal(id);
        if (p.executed) revert AlreadyExecuted(id);
        if (p.cancelled) revert ProposalIsCancelled(id);
        if (_counts(_cancelledAs[id], msg.sender)) revert AlreadyVotedCancel(id, msg.sender);
        if (_cancelledAs[id][msg.sender] == 0) _cancellers[id].push(msg.sender);
        _cancelledAs[id][msg.sender] = ownerGeneration[msg.sender];
        uint256 votes = _tally(_cancellers[id], _cancelledAs[id]);
        emit CancelVoted(id, msg.sender, votes);
        if (votes >= threshold) {
            p.cancelled = true;
            emit Cancelled(id);
        }
    }

    /// Execute a queued proposal whose time-lock has expired (anyone may), if `threshold`
    /// current owners still confirm it.
    function execute(uint256 id) external {
        Proposal storage p = _proposal(id);
        _live(p, id);
        uint256 valid = confirmationsOf(id);
        if (p.eta == 0 || valid < threshold) revert NotApproved(id, valid, threshold);
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

    /// Confirmations of `id` that count now (by current owners, in their current term).
    function confirmationsOf(uint256 id) public view returns (uint256) {
        return _tally(_confirmers[id], _confirmedAs[id]);
    }

    /// Whether `owner`'s confirmation of `id` counts now.
    function confirmedBy(uint256 id, address owner) external view returns (bool) {
        return _counts(_confirmedAs[id], owner);
    }

    /// When `id` expires (or expired): `expiry` after its proposal while not queued,
    /// `expiry` after its eta once queued.
    function expiresAt(uint256 id) public view returns (uint256) {
        Proposal storage p = _proposal(id);
        return (p.eta == 0 ? uint256(p.proposedAt) : uint256(p.eta)) + expiry;
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

    function setExpiry(uint256 expiry_) external onlySelf {
        _setExpiry(expiry_);
    }

    // --- internals ---------------------------------------------------------------------

    function _proposal(uint256 id) private view returns (Proposal storage p) {
        if (id == 0 || id > proposalCount) revert UnknownProposal(id);
        p = proposals[id];
    }

    /// Not executed, not cancelled, not expired.
    function _live(Proposal storage p, uint256 id) private view {
        if (p.executed) revert AlreadyExecuted(id);
        if (p.cancelled) revert ProposalIsCancelled(id);
        uint256 end = expiresAt(id);
        if (block.timestamp > end) revert ProposalExpired(id, end);
    }

    function _counts(mapping(address => uint256) storage votedAs, address owner) private view returns (bool) {
        uint256 gen = votedAs[owner];
        return gen != 0 && isOwner[owner] && gen == ownerGeneration[owner];
    }

    function _tally(address[] storage voters, mapping(address => uint256) storage votedAs)
        private
        view
        returns (uint256 n)
    {
        for (uint256 i = 0; i < voters.length; i++) {
            if (_counts(votedAs, voters[i])) n++;
        }
    }

    function _confirm(uint256 id) private {
        Proposal storage p = proposals[id];
        if (_counts(_confirmedAs[id], msg.sender)) revert AlreadyConfirmed(id, msg.sender);
        if (_confirmedAs[id][msg.sender] == 0) _confirmers[id].push(msg.sender);
        _confirmedAs[id][msg.sender] = ownerGeneration[msg.sender];
        p.confirmations += 1;
        uint256 valid = confirmationsOf(id);
        emit Confirmed(id, msg.sender, valid);
        if (p.eta == 0 && valid >= threshold) {
            p.eta = uint64(block.timestamp + delay);
            emit Queued(id, p.eta);
        }
    }

    function _addOwner(address owner) private {
        if (owner == address(0)) revert NotOwner(owner);
        if (isOwner[owner]) revert AlreadyOwner(owner);
        isOwner[owner] = true;
        ownerGeneration[owner] += 1;
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

    function _setExpiry(uint256 expiry_) private {
        if (expiry_ < MIN_EXPIRY || expiry_ > MAX_EXPIRY) revert InvalidExpiry(expiry_, MIN_EXPIRY, MAX_EXPIRY);
        expiry = expiry_;
        emit ExpirySet(expiry_);
    }
}
