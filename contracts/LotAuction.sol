// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Constants} from "./base/Constants.sol";
import {Governed} from "./base/Governed.sol";
import {IAuctionHouse, ILotAuction} from "./interfaces/ILotAuction.sol";

/// @title The sealed-bid auction of the house's lot (docs/protocol.md, "The auction of the
/// house's lot"; the encodings are clearing/auction.py's).
/// @notice Created by its ClearingHouse (the only caller of the hooks below) in its
/// constructor; a contract of its own so that the house stays below the 24 KiB code-size
/// limit. After the house accepts epoch e it reports the proof's auction word here, and
/// this contract keeps `lotBase`, a bound of the margin of what the house holds: 0 if the
/// house is flat, else the epoch's `lotMM` if the lot was sold in e (an award whose winner
/// e did not liquidate), else `lotBase + lotMM`. While it is positive the open epoch e + 1
/// runs an auction: members commit `keccak256(abi.encode(clearingHouse, e + 1, slot, bid,
/// salt))` for `auctionWindow` seconds, then reveal for as long; a bid is a signed amount,
/// `-reserve <= bid` and `|bid| < 2^BID_BITS`, `reserve = ceil(lotBase * auctionReserveBp
/// / BP)`; the highest revealed bid wins, ties go to the earlier reveal. The house's
/// closeEpoch(e + 1) waits for the reveal deadline (closeAuction) and records the award
/// word `a | neg << 1 | w << 2 | |b| << 10` (0 without a bid), which e + 1's proof must
/// carry in the low AWARD_BITS bits of its auction signal (checkAward). Nothing here moves
/// money: the award is cleared in the epoch proof.
contract LotAuction is Constants, Governed, ILotAuction {
    uint256 public constant MIN_AUCTION_WINDOW = 1;
    uint256 public constant MAX_AUCTION_WINDOW = 1 days;

    IAuctionHouse public immutable clearingHouse;
    /// The reserve, in bp of lotBase (governed, 0..BP).
    uint256 public auctionReserveBp;
    /// Seconds of commits, then as many of reveals (governed; 4 * auctionWindow <= the
    /// house's withdrawalTimeout).
    uint256 public auctionWindow;
    /// The margin bound of the house's lot after the last accepted epoch.
    uint256 public lotBase;
    /// The award word recorded when `epoch` closed (0: no award).
    mapping(uint256 => uint256) public awardOf;

    mapping(uint256 => AuctionState) private _auctions;
    mapping(uint256 => mapping(uint256 => bytes32)) private _bidCommitments;

    /// By the clearing house's constructor (which has no code yet: nothing is read from it).
    constructor(address governance_, uint256 reserveBp, uint256 window, uint256 withdrawalTimeout)
        Governed(governance_)
    {
        clearingHouse = IAuctionHouse(msg.sender);
        _setAuctionParams(reserveBp, window, withdrawalTimeout);
    }

    modifier onlyClearingHouse() {
        if (msg.sender != address(clearingHouse)) revert NotClearingHouse(msg.sender);
        _;
    }

    function setAuctionParams(uint256 reserveBp, uint256 window) external onlyGovernance {
        _setAuctionParams(reserveBp, window, clearingHouse.withdrawalTimeout());
    }

    // --- members -----------------------------------------------------------------------

    /// Seal a bid for the open epoch's auction: by an active member (not the house), once,
    /// before the commit deadline.
    function commitBid(bytes32 commitment) external {
        (uint256 epoch, uint256 slot) = _bidder();
        AuctionState storage a = _auctions[epoch];
        if (a.commitEnd == 0) revert NoAuction(epoch);
        if (block.timestamp >= a.commitEnd) revert CommitClosed(epoch, a.commitEnd);
        if (commitment == bytes32(0)) revert InvalidBidCommitment();
        mapping(uint256 => bytes32) storage bids = _bidCommitments[epoch];
        if (bids[slot] != bytes32(0)) revert BidAlreadyCommitted(epoch, slot);
        bids[slot] = commitment;
        emit BidCommitted(epoch, slot, commitment);
    }

    /// Open the caller's sealed bid between the deadlines; it becomes the best bid if it
    /// is higher than every bid revealed before it.
    function revealBid(int256 bid, bytes32 salt) external {
        (uint256 epoch, uint256 slot) = _bidder();
        AuctionState storage a = _auctions[epoch];
        if (a.commitEnd == 0) revert NoAuction(epoch);
        if (block.timestamp < a.commitEnd) revert RevealNotOpen(epoch, a.commitEnd);
        if (block.timestamp >= a.revealEnd) revert RevealClosed(epoch, a.revealEnd);
        bytes32 commitment = _bidCommitments[epoch][slot];
        if (commitment == bytes32(0)) revert NoBidCommitment(epoch, slot);
        if (a.revealedMask & (1 << slot) != 0) revert BidAlreadyRevealed(epoch, slot);
        if (keccak256(abi.encode(address(clearingHouse), epoch, slot, bid, salt)) != commitment) {
            revert BidMismatch(epoch, slot);
        }
        int256 limit = int256(1 << BID_BITS);
        if (bid <= -limit || bid >= limit) revert BidOutOfRange(bid);
        if (bid < 0 && uint256(-bid) > a.reserve) revert BidBelowReserve(bid, a.reserve);
        a.revealedMask |= 1 << slot;
        if (!a.hasBest || bid > a.bestBid) {
            (a.hasBest, a.bestSlot, a.bestBid) = (true, uint8(slot), int128(bid));
        }
        emit BidRevealed(epoch, slot, bid);
    }

    function auctionOf(uint256 epoch) external view returns (AuctionState memory) {
        return _auctions[epoch];
    }

    function bidCommitmentOf(uint256 epoch, uint256 slot) external view returns (bytes32) {
        return _bidCommitments[epoch][slot];
    }

    // --- the clearing house's hooks ----------------------------------------------------

    /// closeEpoch(epoch): refused while its auction runs; records the award, if any.
    function closeAuction(uint256 epoch) external onlyClearingHouse {
        AuctionState storage a = _auctions[epoch];
        uint256 end = a.revealEnd;
        if (end == 0) return;
        if (block.timestamp < end) revert AuctionRunning(epoch, end);
        if (!a.hasBest) {
            emit LotUnsold(epoch);
            return;
        }
        int256 bid = a.bestBid;
        uint256 slot = a.bestSlot;
        uint256 mag = bid < 0 ? uint256(-bid) : uint256(bid);
        awardOf[epoch] = 1 | (bid < 0 ? 2 : 0) | slot << 2 | mag << (2 + WINNER_BITS);
        emit LotAwarded(epoch, slot, bid);
    }

    /// submitEpoch, before the proof is verified: the auction word carries the award
    /// recorded at close.
    function checkAward(uint256 epoch, uint256 word) external view {
        uint256 given = word & ((1 << AWARD_BITS) - 1);
        uint256 expected = awardOf[epoch];
        if (given != expected) revert AuctionMismatch(given, expected);
    }

    /// submitEpoch, once `epoch` is accepted: the next lotBase, and the auction of the
    /// open epoch `next` if it is positive (t0 = now).
    function acceptEpoch(uint256 epoch, uint256 word, uint256, uint256 next)
        external
        onlyClearingHouse
    {
        uint256 base;
        if ((word >> FLAT_SHIFT) & 1 == 1) {
            base = 0;
        } else if (awardOf[epoch] & 1 == 1) {
            // Awarded: sold (the house holds only this epoch's defaulters' positions), or
            // returned by a liquidated winner, whose own margin includes the lot: either
            // way lotMM bounds the whole house portfolio (never counted twice).
            base = word >> LOT_MM_SHIFT;
        } else {
            base = lotBase + (word >> LOT_MM_SHIFT);
        }
        if (base != lotBase) {
            lotBase = base;
            emit LotBaseSet(epoch, base);
        }
        if (base == 0) return;
        uint256 reserve = (base * auctionReserveBp + BP - 1) / BP;
        uint256 commitEnd = block.timestamp + auctionWindow;
        uint256 revealEnd = commitEnd + auctionWindow;
        AuctionState storage a = _auctions[next];
        (a.commitEnd, a.revealEnd, a.reserve) = (uint64(commitEnd), uint64(revealEnd), reserve);
        emit AuctionOpened(next, reserve, commitEnd, revealEnd);
    }

    // --- internals -------------------------------------------------------------------

    function _setAuctionParams(uint256 reserveBp, uint256 window, uint256 timeout) private {
        if (reserveBp > BP || window < MIN_AUCTION_WINDOW || window > MAX_AUCTION_WINDOW) {
            revert InvalidAuctionParams(reserveBp, window);
        }
        if (4 * window > timeout) revert AuctionWindowTooLong(window, timeout);
        (auctionReserveBp, auctionWindow) = (reserveBp, window);
        emit AuctionParamsSet(reserveBp, window);
    }

    /// The open epoch and the caller's slot, if it may bid: the pool is not frozen and
    /// the caller is an active member (the house's slotOf reverts NotMember), not the house.
    function _bidder() private view returns (uint256 epoch, uint256 slot) {
        if (clearingHouse.frozen()) revert PoolFrozen();
        slot = clearingHouse.slotOf(msg.sender);
        if (slot == HOUSE) revert HouseCannotBid();
        epoch = clearingHouse.openEpoch();
    }
}
