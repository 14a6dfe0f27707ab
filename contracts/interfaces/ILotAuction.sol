// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice What the lot auction reads from its clearing house (IClearingHouse's views).
interface IAuctionHouse {
    function slotOf(address account) external view returns (uint256);
    function openEpoch() external view returns (uint256);
    function frozen() external view returns (bool);
    function withdrawalTimeout() external view returns (uint256);
}

/// @notice The sealed-bid auction of the house's lot (docs/protocol.md, "The auction of
/// the house's lot"; LotAuction.sol).
interface ILotAuction {
    /// One auction, keyed by the epoch it runs in: commits while block.timestamp <
    /// commitEnd, reveals while commitEnd <= block.timestamp < revealEnd; the best bid
    /// (bestBid of bestSlot, if hasBest) becomes the epoch's award when it closes.
    struct AuctionState {
        uint64 commitEnd; // 0: no auction in this epoch
        uint64 revealEnd;
        int128 bestBid;
        uint256 reserve; // the lowest acceptable bid is -reserve
        uint8 bestSlot;
        bool hasBest;
        uint256 revealedMask; // slots whose bid was revealed (up to MAX_SLOTS = 256)
    }

    error NotClearingHouse(address caller);
    error InvalidAuctionParams(uint256 reserveBp, uint256 window);
    /// 4 * auctionWindow must not exceed withdrawalTimeout (a running auction holds
    /// closeEpoch for up to 2 * auctionWindow).
    error AuctionWindowTooLong(uint256 window, uint256 withdrawalTimeout);
    error PoolFrozen();
    error NoAuction(uint256 epoch);
    error HouseCannotBid();
    error InvalidBidCommitment();
    error BidAlreadyCommitted(uint256 epoch, uint256 slot);
    error CommitClosed(uint256 epoch, uint256 commitEnd);
    error RevealNotOpen(uint256 epoch, uint256 commitEnd);
    error RevealClosed(uint256 epoch, uint256 revealEnd);
    error NoBidCommitment(uint256 epoch, uint256 slot);
    error BidAlreadyRevealed(uint256 epoch, uint256 slot);
    error BidMismatch(uint256 epoch, uint256 slot);
    error BidOutOfRange(int256 bid);
    error BidBelowReserve(int256 bid, uint256 reserve);
    error AuctionRunning(uint256 epoch, uint256 revealEnd);
    /// The proof's award (the auction word's low AWARD_BITS bits) is not the one recorded
    /// when the epoch closed.
    error AuctionMismatch(uint256 given, uint256 expected);

    event AuctionParamsSet(uint256 reserveBp, uint256 window);
    event AuctionOpened(uint256 indexed epoch, uint256 reserve, uint256 commitEnd, uint256 revealEnd);
    /// lotBase after accepting `epoch` (emitted when it changes).
    event LotBaseSet(uint256 indexed epoch, uint256 lotBase);
    event BidCommitted(uint256 indexed epoch, uint256 indexed slot, bytes32 commitment);
    event BidRevealed(uint256 indexed epoch, uint256 indexed slot, int256 bid);
    event LotAwarded(uint256 indexed epoch, uint256 indexed slot, int256 bid);
    event LotUnsold(uint256 indexed epoch);

    function commitBid(bytes32 commitment) external;
    function revealBid(int256 bid, bytes32 salt) external;
    function setAuctionParams(uint256 reserveBp, uint256 window) external;
    function auctionOf(uint256 epoch) external view returns (AuctionState memory);
    function bidCommitmentOf(uint256 epoch, uint256 slot) external view returns (bytes32);
    function awardOf(uint256 epoch) external view returns (uint256);
    function lotBase() external view returns (uint256);
    function auctionWindow() external view returns (uint256);
    function auctionReserveBp() external view returns (uint256);
    // the clearing house's hooks
    function closeAuction(uint256 epoch) external;
    function checkAward(uint256 epoch, uint256 word) external view;
    function acceptEpoch(uint256 epoch, uint256 word, uint256 liquidatedMask, uint256 next) external;
}
