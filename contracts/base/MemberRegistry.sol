// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {EpochLog} from "./EpochLog.sol";
import {Governed} from "./Governed.sol";
import {IMemberRegistry} from "../interfaces/IClearingHouse.sol";

/// @title The permissioned pool's members: slot -> (account, view-key commitment, escrow).
/// @notice Governance registers a member in a slot never used before (a slot's leaf keeps
/// its collateral and positions, so a slot is never handed to someone else), which records
/// a REGISTER event (value = vkh = Poseidon(K)) in the open epoch; the circuit then sets
/// the leaf's status and vkh. The escrowed view key (K encrypted to the compliance key,
/// zkclear.compliance) is stored with it. Removal stops the account from committing and
/// depositing; it keeps its slot (one account, one slot, for good), so it may still
/// request withdrawals and, after a freeze, exit. The house (slot 0) is a member from
/// genesis.
abstract contract MemberRegistry is EpochLog, Governed, IMemberRegistry {
    struct Member {
        address account;
        bool active;
        bool used;
    }

    /// Escrow blobs are 93 bytes today (docs/protocol.md, "Escrow of K").
    uint256 public constant MAX_ESCROW_BYTES = 512;

    mapping(uint256 => Member) public members;
    mapping(uint256 => uint256) public vkhOf;
    mapping(uint256 => bytes) public escrowOf;
    /// account => slot + 1 (0: not a member).
    mapping(address => uint256) private _slotPlusOne;

    constructor(address houseAccount, uint256 houseVkh) {
        if (houseAccount == address(0)) revert ZeroAddress();
        if (houseVkh >= FIELD_R) revert InvalidViewKeyCommitment(houseVkh);
        members[HOUSE] = Member(houseAccount, true, true);
        vkhOf[HOUSE] = houseVkh;
        _slotPlusOne[houseAccount] = HOUSE + 1;
        emit MemberRegistered(HOUSE, houseAccount, houseVkh, "");
    }

    function registerMember(uint256 slot, address account, uint256 vkh, bytes calldata escrow)
        external
        onlyGovernance
    {
        if (slot >= nSlots) revert SlotOutOfRange(slot, nSlots);
        if (members[slot].used) revert SlotInUse(slot);
        if (account == address(0)) revert ZeroAddress();
        if (_slotPlusOne[account] != 0) revert AccountAlreadyMember(account, _slotPlusOne[account] - 1);
        if (vkh == 0 || vkh >= FIELD_R) revert InvalidViewKeyCommitment(vkh);
        if (escrow.length == 0 || escrow.length > MAX_ESCROW_BYTES) {
            revert InvalidEscrow(escrow.length, MAX_ESCROW_BYTES);
        }
        uint256 epoch = openEpoch;
        SlotEpoch storage se = _slotEpochs[epoch][slot];
        if (se.registered) revert AlreadyRegistered(epoch, slot);
        se.registered = true;
        members[slot] = Member(account, true, true);
        vkhOf[slot] = vkh;
        escrowOf[slot] = escrow;
        _slotPlusOne[account] = slot + 1;
        _record(KIND_REGISTER, slot, vkh);
        emit MemberRegistered(slot, account, vkh, escrow);
    }

    function removeMember(uint256 slot) external onlyGovernance {
        if (slot >= nSlots) revert SlotOutOfRange(slot, nSlots);
        Member storage m = members[slot];
        if (!m.active) revert NotRegistered(slot);
        m.active = false;
        emit MemberRemoved(slot, m.account);
    }

    /// The slot of an active member's account (reverts NotMember otherwise).
    function slotOf(address account) public view returns (uint256) {
        uint256 s = _slotPlusOne[account];
        if (s == 0 || !members[s - 1].active) revert NotMember(account);
        return s - 1;
    }

    /// The account registered for `slot` (removed or not; address(0) if never used).
    function accountOfSlot(uint256 slot) external view returns (address) {
        return members[slot].account;
    }

    /// The slot of an active or removed member's account (reverts NotMember otherwise).
    function _anySlotOf(address account) internal view returns (uint256) {
        uint256 s = _slotPlusOne[account];
        if (s == 0) revert NotMember(account);
        return s - 1;
    }
}
