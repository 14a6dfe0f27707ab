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
        uint128 deposit; // the slot's deposit in this epoch (0: none)
        bool registered;
        // (No commit flag: closeEpoch finds a duplicate commit in memory; ReportCommitted
        // records each commit.)
    }

    uint256 public immutable nSlots;
    uint256 public immutable nInstruments;
    uint256 public immutable nScenarios;
    uint256 public immutable maxEvents;
    uint256 public openEpoch;

    mapping(uint256 => EpochData) internal _epochs;
    mapping(uint256 => mapping(uint256 => SlotEpoch)) internal _slotEpochs;

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
