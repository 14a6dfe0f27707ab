// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {PoseidonHasher} from "./PoseidonHasher.sol";
import {IEpochLog} from "../interfaces/IClearingHouse.sol";

/// @title Pool sizes and the per-epoch event accumulator.
/// @notice Every member action is an event (kind, slot, value) of the *open* epoch, folded
/// as it arrives: acc_0 = 0, acc' = Poseidon(acc, kind, slot, value); the epoch proof
/// recomputes the same chain, so one field element (plus the count) binds every
/// commitment, deposit, withdrawal request and registration of the epoch.
/// `_closeEpoch` freezes the open epoch (accumulator, count, active paramsHash) and opens
/// the next one, so whatever arrives while epoch e is being proven belongs to e + 1.
/// Per epoch and slot the contract accepts at most one COMMIT, one DEPOSIT, one WITHDRAW
/// and one REGISTER. (The circuit allows several deposits; one per epoch keeps an epoch
/// from ever filling up: 4 events x N slots is the default capacity E = 4N.)
abstract contract EpochLog is IEpochLog, PoseidonHasher {
    struct EpochData {
        uint256 eventsAcc;
        uint256 paramsHash; // frozen at close
        uint256 withdrawMask; // slots with a withdrawal request
        uint128 deposits; // sum of the epoch's deposits
        uint32 nEvents;
        bool closed;
        uint64 firstRequestAt; // time of the epoch's first withdrawal request (0: none)
        uint256 excludedMask; // slots closed without their report (suspended next epoch)
    }

    struct SlotEpoch {
        uint128 withdrawal;
        bool registered;
        // (No commit flag: closeEpoch finds a duplicate commit in memory; ReportCommitted
        // records each commit. No deposit: see DepositRecord.)
    }

    /// A slot's deposit of one epoch, kept in the slot's record of that epoch's parity.
    /// Only the open epoch and the one closed before it can be unaccepted (closeEpoch
    /// waits for the previous proof), and they have different parities: a deposit of
    /// epoch e overwrites the deposit of e - 2 or earlier, already accepted. The two
    /// words of a slot are written once fresh, then rewritten (5k, not 22.1k per epoch).
    struct DepositRecord {
        uint64 epoch;
        uint128 amount;
    }

    uint256 public immutable nSlots;
    uint256 public immutable nInstruments;
    uint256 public immutable nScenarios;
    uint256 public immutable maxEvents;
    uint256 public openEpoch;

    mapping(uint256 => EpochData) internal _epochs;
    mapping(uint256 => mapping(uint256 => SlotEpoch)) internal _slotEpochs;
    /// slot => its deposits by epoch parity (DepositRecord).
    mapping(uint256 => DepositRecord[2]) internal _depositRecords;

    constructor(uint256 nSlots_, uint256 nInstruments_, uint256 nScenarios_, uint256 maxEvents_) {
        bool pow2 = nSlots_ >= 2 && nSlots_ & (nSlots_ - 1) == 0;
        if (!pow2 || nSlots_ > MAX_SLOTS || nInstruments_ == 0 || nScenarios_ == 0 || maxEvents_ == 0) {
            revert InvalidPoolSize(nSlots_, nInstruments_, nScenarios_, maxEvents_);
        }
        nSlots = nSlots_;
        nInstruments = nInstruments_;
        nScenarios = nScenarios_;
        maxEvents = maxEvents_;
        openEpoch = 1;
    }

    /// The frozen (or, for the open epoch, running) data of `epoch`.
    function epochInfo(uint256 epoch) external view returns (EpochData memory) {
        return _epochs[epoch];
    }

    /// What `slot` did in `epoch`.
    function slotEpoch(uint256 epoch, uint256 slot) external view returns (SlotEpoch memory) {
        return _slotEpochs[epoch][slot];
    }

    /// The slot's deposit in `epoch` (0: none). Exact for the open epoch and the one
    /// before it; an older epoch's record may have been reused (its EpochEvent logs keep
    /// every deposit).
    function depositOf(uint256 epoch, uint256 slot) public view returns (uint256) {
        DepositRecord storage r = _depositRecords[slot][epoch & 1];
        return r.epoch == epoch ? r.amount : 0;
    }

    /// Record `slot`'s deposit of `amount` in the open epoch (AlreadyDeposited if it has
    /// one); the caller adds it to the epoch's sum, folds the event and pulls the tokens.
    function _setDeposit(uint256 epoch, uint256 slot, uint256 amount) internal {
        DepositRecord storage r = _depositRecords[slot][epoch & 1];
        if (r.epoch == epoch) revert AlreadyDeposited(epoch, slot);
        (r.epoch, r.amount) = (uint64(epoch), uint128(amount));
    }

    /// Fold (kind, slot, value) into the open epoch's accumulator.
    function _record(uint256 kind, uint256 slot, uint256 value) internal returns (uint256 epoch) {
        epoch = openEpoch;
        EpochData storage ep = _epochs[epoch];
        uint256 index = ep.nEvents;
        if (index >= maxEvents) revert EpochFull(epoch, maxEvents);
        uint256 acc = _poseidon4(ep.eventsAcc, kind, slot, value);
        ep.eventsAcc = acc;
        ep.nEvents = uint32(index + 1);
        emit EpochEvent(epoch, index, kind, slot, value, acc);
    }

    /// Freeze the open epoch with the parameters it will be cleared under; open the next.
    function _closeEpoch(uint256 activeParamsHash) internal returns (uint256 epoch) {
        epoch = openEpoch;
        EpochData storage ep = _epochs[epoch];
        ep.paramsHash = activeParamsHash;
        ep.closed = true;
        openEpoch = epoch + 1;
        emit EpochClosed(epoch, ep.eventsAcc, ep.nEvents, activeParamsHash);
    }
}
