// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Governed} from "./base/Governed.sol";
import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {IOracleEpochs, IPriceOracle} from "./interfaces/IPriceOracle.sol";

/// @title Settlement prices: authorised reporters, odd quorum, median, breaker, staleness.
/// @notice The published rule (docs/protocol.md, "Oracle"):
/// - Epochs. The oracle is bound once to its clearing house (`bindClearingHouse`, by the
///   deployer or governance). A post for epoch e is accepted only if e is the next epoch
///   to price (lastFinalEpoch + 1) and e <= the house's open epoch: the open epoch (whose
///   prices the operator nets with) or a closed one still unpriced. Past epochs revert
///   PricesAlreadyFinal, later ones PriceEpochInFuture or PriceEpochOutOfOrder.
/// - Posts. One per reporter and round (AlreadyPosted); every price in [1, 2^PRICE_BITS);
///   `observedAt` neither in the future nor older than `maxAge`. A post may carry the
///   venues it aggregates; the contract checks the posted price is their median.
/// - Median. `quorum` is odd, q = 2f + 1. When a round has q posts its candidate is, per
///   instrument, the median of those q posts (the (f+1)-th smallest; equal values are
///   interchangeable, so ties need no rule). With at most f dishonest reporters among
///   them, every candidate lies between the smallest and largest honest post: one
///   dishonest reporter (q >= 3) cannot move the price outside the honest posts at all,
///   and not at all when the honest posts agree.
/// - Circuit breaker. A candidate within `maxMoveBp` of the previous final price, for
///   every instrument, is final at once. Otherwise the breaker trips: the candidate is
///   published (BreakerTripped) and becomes final by `releasePrices` once `breakerDelay`
///   seconds have passed -- a real crash clears without any governance change, members see
///   the price coming (and may deposit) first, and since it is a median, a move beyond the
///   band needs a majority of the quorum to report it.
/// - Staleness. A price is final only while every observation it is the median of is at
///   most `maxAge` old (breakerDelay < maxAge); a round whose oldest observation has aged
///   beyond maxAge has expired and the next post starts a new round. `finalisedAt` records
///   when each epoch's prices became final.
/// The final prices are stored with pricesHash = PoseidonChain(P[0..M-1]), which the
/// ClearingHouse compares with the epoch proof's public inputs.
contract PriceOracle is IPriceOracle, Governed, PoseidonHasher {
    struct Round {
        uint64 startedAt;
        uint64 oldestObservedAt;
        uint64 trippedAt; // 0 unless the breaker holds the candidate
        uint32 attempt;
        uint32 count;
    }

    uint256 public immutable nInstruments;
    /// May bind the clearing house (besides governance).
    address public immutable deployer;
    /// The clearing house whose epochs are priced (set once).
    address public clearingHouse;
    uint256 public quorum;
    uint256 public reporterCount;
    /// Largest move vs. the previous final price (basis points of it) that is final at
    /// once; larger moves wait `breakerDelay` seconds.
    uint256 public maxMoveBp;
    /// Largest age (seconds) of an observation, at posting and at finalisation.
    uint256 public maxAge;
    /// Seconds a candidate beyond the band waits before it may be released (< maxAge).
    uint256 public breakerDelay;
    uint256 public lastFinalEpoch;

    mapping(address => bool) public isReporter;
    mapping(uint256 => uint256) private _pricesHash;
    mapping(uint256 => uint256[]) private _finalPrices;
    mapping(uint256 => uint256) private _finalisedAt;
    mapping(uint256 => Round) public rounds;
    /// The candidate held by a tripped breaker, per epoch.
    mapping(uint256 => uint256[]) private _pending;
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
        uint256 maxAge_,
        uint256 breakerDelay_
    ) Governed(governance_) PoseidonHasher(poseidons) {
        deployer = msg.sender;
        nInstruments = genesisPrices.length;
        if (nInstruments == 0) revert WrongPriceCount(0, 1);
        for (uint256 m = 0; m < nInstruments; m++) _checkRange(m, genesisPrices[m]);
        for (uint256 i = 0; i < reporters.length; i++) _addReporter(reporters[i]);
        _setQuorum(quorum_);
        _setLimits(maxMoveBp_, maxAge_, breakerDelay_);
        _finalise(0, genesisPrices);
    }

    // --- binding and governance ----------------------------------------------------------

    /// Bind the clearing house whose epochs this oracle prices (once; it must read its
    /// prices from this oracle).
    function bindClearingHouse(address house) external {
        if (msg.sender != deployer && msg.sender != governance) revert NotBinder(msg.sender);
        if (clearingHouse != address(0)) revert AlreadyBound(clearingHouse);
        if (house.code.length == 0 || IOracleEpochs(house).oracle() != address(this)) {
            revert WrongClearingHouse(house);
        }
        clearingHouse = house;
        emit ClearingHouseBound(house);
    }

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

    function setLimits(uint256 maxMoveBp_, uint256 maxAge_, uint256 breakerDelay_) external onlyGovernance {
        _setLimits(maxMoveBp_, maxAge_, breakerDelay_);
    }

    // --- reporters -----------------------------------------------------------------------

    /// Post settlement prices for `epoch` observed at `observedAt` (unix seconds);
    /// `venues` is empty or abi.encode(string[] names, uint256[][] prices) of the venues
    /// whose per-instrument median `prices` is.
    function postPrices(uint256 epoch, uint256 observedAt, uint256[] calldata prices, bytes calldata venues)
        external
    {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        _checkEpoch(epoch);
        if (observedAt > block.timestamp) revert PriceFromFuture(observedAt, block.timestamp);
        if (block.timestamp - observedAt > maxAge) revert StalePrice(observedAt, block.timestamp, maxAge);
        if (prices.length != nInstruments) revert WrongPriceCount(prices.length, nInstruments);
        for (uint256 m = 0; m < nInstruments; m++) _checkRange(m, prices[m]);
        if (venues.length != 0) _checkVenues(prices, venues);

        Round storage r = rounds[epoch];
        if (r.count > 0 && block.timestamp - r.oldestObservedAt > maxAge) {
            r.attempt += 1;
            r.count = 0;
            r.trippedAt = 0;
            emit RoundExpired(epoch, r.attempt);
        }
        if (r.trippedAt != 0) revert BreakerPending(epoch, r.trippedAt + breakerDelay);
        if (r.count == 0) {
            r.startedAt = uint64(block.timestamp);
            r.oldestObservedAt = uint64(observedAt);
        } else if (observedAt < r.oldestObservedAt) {
            r.oldestObservedAt = uint64(observedAt);
        }
        bytes32 who = keccak256(abi.encode(epoch, r.attempt, msg.sender));
        if (_posted[who]) revert AlreadyPosted(epoch, msg.sender);
        _posted[who] = true;
        bytes32 round = keccak256(abi.encode(epoch, r.attempt));
        uint256 base = uint256(r.count) * nInstruments;
        for (uint256 m = 0; m < nInstruments; m++) _roundPrices[round][base + m] = prices[m];
        r.count += 1;
        emit PricesPosted(epoch, msg.sender, observedAt, prices, venues);

        if (r.count >= quorum) {
            uint256[] memory med = _medians(round, quorum);
            if (_withinBand(epoch, med)) {
                _finalise(epoch, med);
            } else {
                r.trippedAt = uint64(block.timestamp);
                _pending[epoch] = med;
                emit BreakerTripped(epoch, med, block.timestamp + breakerDelay);
            }
        }
    }

    /// Make a tripped candidate final once `breakerDelay` has passed and while its
    /// observations are at most `maxAge` old (anyone may call).
    function releasePrices(uint256 epoch) external {
        if (_pricesHash[epoch] != 0) revert PricesAlreadyFinal(epoch);
        Round storage r = rounds[epoch];
        if (r.trippedAt == 0) revert BreakerNotTripped(epoch);
        uint256 releaseAt = uint256(r.trippedAt) + breakerDelay;
        if (block.timestamp < releaseAt) revert BreakerDelayNotOver(epoch, releaseAt, block.timestamp);
        if (block.timestamp - r.oldestObservedAt > maxAge) {
            revert StalePrice(r.oldestObservedAt, block.timestamp, maxAge);
        }
        _finalise(epoch, _pending[epoch]);
    }

    // --- views ---------------------------------------------------------------------------

    function pricesHashOf(uint256 epoch) external view returns (uint256) {
        return _pricesHash[epoch];
    }

    function finalPrices(uint256 epoch) external view returns (uint256[] memory) {
        if (_pricesHash[epoch] == 0) revert PricesNotFinal(epoch);
        return _finalPrices[epoch];
    }

    function finalisedAt(uint256 epoch) external view returns (uint256) {
        return _finalisedAt[epoch];
    }

    /// The candidate a tripped breaker holds for `epoch` and when it may be released
    /// (empty and 0 if none).
    function pendingPrices(uint256 epoch) external view returns (uint256[] memory prices, uint256 releaseAt) {
        Round storage r = rounds[epoch];
        if (r.trippedAt == 0 || _pricesHash[epoch] != 0) return (prices, 0);
        return (_pending[epoch], uint256(r.trippedAt) + breakerDelay);
    }

    // --- internals -----------------------------------------------------------------------

    function _checkEpoch(uint256 epoch) private view {
        address house = clearingHouse;
        if (house == address(0)) revert ClearingHouseNotBound();
        if (epoch <= lastFinalEpoch) revert PricesAlreadyFinal(epoch);
        uint256 open = IOracleEpochs(house).openEpoch();
        if (epoch > open) revert PriceEpochInFuture(epoch, open);
        if (epoch != lastFinalEpoch + 1) revert PriceEpochOutOfOrder(epoch, lastFinalEpoch + 1);
    }

    function _checkRange(uint256 m, uint256 p) private pure {
        if (p == 0) revert ZeroPrice(m);
        if (p >> PRICE_BITS != 0) revert PriceTooLarge(m, p);
    }

    /// The posted prices must be the venues' per-instrument medians (for an even number
    /// of venues, the floor of the mean of the two middle prices).
    function _checkVenues(uint256[] calldata prices, bytes calldata venues) private view {
        (string[] memory names, uint256[][] memory vp) = abi.decode(venues, (string[], uint256[][]));
        uint256 n = names.length;
        if (n == 0 || vp.length != n) revert InvalidVenues(n, vp.length);
        for (uint256 v = 0; v < n; v++) {
            if (vp[v].length != nInstruments) revert WrongPriceCount(vp[v].length, nInstruments);
        }
        uint256[] memory col = new uint256[](n);
        for (uint256 m = 0; m < nInstruments; m++) {
            for (uint256 v = 0; v < n; v++) col[v] = vp[v][m];
            _sort(col);
            uint256 med = n % 2 == 1 ? col[n / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
            if (med != prices[m]) revert VenueMedianMismatch(m, prices[m], med);
        }
    }

    function _withinBand(uint256 epoch, uint256[] memory prices) private view returns (bool) {
        uint256[] storage prev = _finalPrices[epoch - 1];
        for (uint256 m = 0; m < nInstruments; m++) {
            uint256 p = prices[m];
            uint256 ref = prev[m];
            uint256 move = p > ref ? p - ref : ref - p;
            if (move * BP > ref * maxMoveBp) return false;
        }
        return true;
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
        if (quorum_ % 2 == 0) revert EvenQuorum(quorum_);
        quorum = quorum_;
        emit QuorumSet(quorum_);
    }

    function _setLimits(uint256 maxMoveBp_, uint256 maxAge_, uint256 breakerDelay_) private {
        if (maxMoveBp_ == 0 || maxAge_ == 0 || maxAge_ > type(uint64).max || breakerDelay_ >= maxAge_) {
            revert InvalidLimits(maxMoveBp_, maxAge_, breakerDelay_);
        }
        maxMoveBp = maxMoveBp_;
        maxAge = maxAge_;
        breakerDelay = breakerDelay_;
        emit LimitsSet(maxMoveBp_, maxAge_, breakerDelay_);
    }

    /// Per instrument, the median of the round's first `count` posts (`count` odd).
    function _medians(bytes32 round, uint256 count) private view returns (uint256[] memory med) {
        med = new uint256[](nInstruments);
        uint256[] memory col = new uint256[](count);
        for (uint256 m = 0; m < nInstruments; m++) {
            for (uint256 j = 0; j < count; j++) col[j] = _roundPrices[round][j * nInstruments + m];
            _sort(col);
            med[m] = col[count / 2];
        }
    }

    /// Insertion sort (reporter and venue counts are small).
    function _sort(uint256[] memory a) private pure {
        for (uint256 i = 1; i < a.length; i++) {
            uint256 v = a[i];
            uint256 k = i;
            while (k > 0 && a[k - 1] > v) {
                a[k] = a[k - 1];
                k--;
            }
            a[k] = v;
        }
    }

    function _finalise(uint256 epoch, uint256[] memory prices) private {
        uint256 h = _poseidonChain(prices);
        _finalPrices[epoch] = prices;
        _pricesHash[epoch] = h;
        _finalisedAt[epoch] = block.timestamp;
        lastFinalEpoch = epoch;
        emit PricesFinalised(epoch, prices, h);
    }
}
