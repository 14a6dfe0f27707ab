// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Governed} from "./base/Governed.sol";
import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {IPriceOracle} from "./interfaces/IPriceOracle.sol";

/// @title Settlement prices: authorised reporters, quorum, median, band and staleness.
/// @notice Epochs are priced one after the other: reporters post for `lastFinalEpoch + 1`.
/// Each post is checked on its own (one per reporter and round; `observedAt` neither in the
/// future nor older than `maxAge`; every price in [1, 2^PRICE_BITS) and within `maxMoveBp`
/// basis points of the previous final price). The post that brings a round to `quorum`
/// finalises the epoch at the per-instrument median of the round's posts (the lower median
/// for an even quorum) and stores pricesHash = PoseidonChain(P[0..M-1]), which the
/// ClearingHouse compares with the epoch proof's public inputs.
/// A round whose first post is older than `maxAge` has expired: the next post starts a new
/// round, so posts of different moments are never mixed into one median.
contract PriceOracle is IPriceOracle, Governed, PoseidonHasher {
    struct Round {
        uint64 startedAt;
        uint32 attempt;
        uint32 count;
    }

    uint256 public immutable nInstruments;
    uint256 public quorum;
    uint256 public reporterCount;
    /// Largest move vs. the previous final price, in basis points of that price.
    uint256 public maxMoveBp;
    /// Largest age (seconds) of an observation, and of a round's first post.
    uint256 public maxAge;
    uint256 public lastFinalEpoch;

    mapping(address => bool) public isReporter;
    mapping(uint256 => uint256) private _pricesHash;
    mapping(uint256 => uint256[]) private _finalPrices;
    mapping(uint256 => Round) public rounds;
    /// keccak(epoch, attempt, reporter) => posted.
    mapping(bytes32 => bool) private _posted;
    /// keccak(epoch, attempt) => the round's posts, flattened (post j, instrument m at j*M+m).
    mapping(bytes32 => mapping(uint256 => uint256)) private _roundPrices;

    constructor(
        address governance_,
        address[6] memory poseidons,
        uint256[] memory genesisPrices,
        address[] memory reporters,
        uint256 quorum_,
        uint256 maxMoveBp_,
        uint256 maxAge_
    ) Governed(governance_) PoseidonHasher(poseidons) {
        nInstruments = genesisPrices.length;
        if (nInstruments == 0) revert WrongPriceCount(0, 1);
        for (uint256 m = 0; m < nInstruments; m++) _checkRange(m, genesisPrices[m]);
        for (uint256 i = 0; i < reporters.length; i++) _addReporter(reporters[i]);
        _setQuorum(quorum_);
        _setLimits(maxMoveBp_, maxAge_);
        _finalise(0, genesisPrices);
    }

    // --- governance --------------------------------------------------------------------

    function addReporter(address reporter) external onlyGovernance {
        _addReporter(reporter);
    }

    function removeReporter(address reporter) external onlyGovernance {
        if (!isReporter[reporter]) revert NotReporter(reporter);
        if (reporterCount - 1 < quorum) revert InvalidQuorum(quorum, reporterCount - 1);
        isReporter[reporter] = false;
        reporterCount -= 1;
        emit ReporterRemoved(reporter);
    }

    function setQuorum(uint256 quorum_) external onlyGovernance {
        _setQuorum(quorum_);
    }

    function setLimits(uint256 maxMoveBp_, uint256 maxAge_) external onlyGovernance {
        _setLimits(maxMoveBp_, maxAge_);
    }

    // --- reporters ---------------------------------------------------------------------

    /// Post settlement prices for `epoch` (must be lastFinalEpoch + 1) observed at
    /// `observedAt` (unix seconds).
    function postPrices(uint256 epoch, uint256 observedAt, uint256[] calldata prices) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (epoch <= lastFinalEpoch) revert PricesAlreadyFinal(epoch);
        if (epoch != lastFinalEpoch + 1) revert PriceEpochNotOpen(epoch, lastFinalEpoch + 1);
        if (observedAt > block.timestamp) revert PriceFromFuture(observedAt, block.timestamp);
        if (block.timestamp - observedAt > maxAge) revert StalePrice(observedAt, block.timestamp, maxAge);
        if (prices.length != nInstruments) revert WrongPriceCount(prices.length, nInstruments);
        uint256[] storage prev = _finalPrices[epoch - 1];
        for (uint256 m = 0; m < nInstruments; m++) {
            uint256 p = prices[m];
            _checkRange(m, p);
            uint256 ref = prev[m];
            uint256 move = p > ref ? p - ref : ref - p;
            if (move * BP > ref * maxMoveBp) revert PriceOutOfBand(m, p, ref, maxMoveBp);
        }

        Round storage r = rounds[epoch];
        if (r.count > 0 && block.timestamp - r.startedAt > maxAge) {
            r.attempt += 1;
            r.count = 0;
            emit RoundExpired(epoch, r.attempt);
        }
        if (r.count == 0) r.startedAt = uint64(block.timestamp);
        bytes32 who = keccak256(abi.encode(epoch, r.attempt, msg.sender));
        if (_posted[who]) revert AlreadyPosted(epoch, msg.sender);
        _posted[who] = true;
        bytes32 round = keccak256(abi.encode(epoch, r.attempt));
        uint256 base = uint256(r.count) * nInstruments;
        for (uint256 m = 0; m < nInstruments; m++) _roundPrices[round][base + m] = prices[m];
        r.count += 1;
        emit PricesPosted(epoch, msg.sender, observedAt, prices);

        if (r.count >= quorum) _finalise(epoch, _medians(round, r.count));
    }

    // --- views -------------------------------------------------------------------------

    function pricesHashOf(uint256 epoch) external view returns (uint256) {
        return _pricesHash[epoch];
    }

    function finalPrices(uint256 epoch) external view returns (uint256[] memory) {
        if (_pricesHash[epoch] == 0) revert PricesNotFinal(epoch);
        return _finalPrices[epoch];
    }

    // --- internals ---------------------------------------------------------------------

    function _checkRange(uint256 m, uint256 p) private pure {
        if (p == 0) revert ZeroPrice(m);
        if (p >> PRICE_BITS != 0) revert PriceTooLarge(m, p);
    }

    function _addReporter(address reporter) private {
        if (reporter == address(0)) revert ZeroAddress();
        if (isReporter[reporter]) revert AlreadyReporter(reporter);
        isReporter[reporter] = true;
        reporterCount += 1;
        emit ReporterAdded(reporter);
    }

    function _setQuorum(uint256 quorum_) private {
        if (quorum_ == 0 || quorum_ > reporterCount) revert InvalidQuorum(quorum_, reporterCount);
        quorum = quorum_;
        emit QuorumSet(quorum_);
    }

    function _setLimits(uint256 maxMoveBp_, uint256 maxAge_) private {
        if (maxMoveBp_ == 0 || maxAge_ == 0 || maxAge_ > type(uint64).max) {
            revert InvalidLimits(maxMoveBp_, maxAge_);
        }
        maxMoveBp = maxMoveBp_;
        maxAge = maxAge_;
        emit LimitsSet(maxMoveBp_, maxAge_);
    }

    /// Per instrument, the lower median of the round's `count` posts (insertion sort:
    /// quorums are small).
    function _medians(bytes32 round, uint256 count) private view returns (uint256[] memory med) {
        med = new uint256[](nInstruments);
        uint256[] memory col = new uint256[](count);
        for (uint256 m = 0; m < nInstruments; m++) {
            for (uint256 j = 0; j < count; j++) {
                uint256 v = _roundPrices[round][j * nInstruments + m];
                uint256 k = j;
                while (k > 0 && col[k - 1] > v) {
                    col[k] = col[k - 1];
                    k--;
                }
                col[k] = v;
            }
            med[m] = col[(count - 1) / 2];
        }
    }

    function _finalise(uint256 epoch, uint256[] memory prices) private {
        uint256 h = _poseidonChain(prices);
        _finalPrices[epoch] = prices;
        _pricesHash[epoch] = h;
        lastFinalEpoch = epoch;
        emit PricesFinalised(epoch, prices, h);
    }
}
