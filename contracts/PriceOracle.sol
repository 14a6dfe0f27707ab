// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Governed} from "./base/Governed.sol";
import {InstrumentTable} from "./base/InstrumentTable.sol";
import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {Signatures} from "./base/Signatures.sol";
import {Instrument} from "./interfaces/IInstruments.sol";
import {IOracleEpochs, IPriceOracle} from "./interfaces/IPriceOracle.sol";

/// @title Settlement prices: authorised reporters, odd quorum, median, breaker, staleness.
/// @notice The published rule (docs/protocol.md, "Oracle"):
/// - Epochs. The oracle is bound once to its clearing house (`bindClearingHouse`, by the
///   deployer or governance). A post for epoch e is accepted only if e is the next epoch
///   to price (lastFinalEpoch + 1) and e <= the house's open epoch: the open epoch (whose
///   prices the operator nets with) or a closed one still unpriced. Past epochs revert
///   PricesAlreadyFinal, later ones PriceEpochInFuture or PriceEpochOutOfOrder.
/// - Posts. One per reporter and round (AlreadyPosted); every mark in [1, 2^PRICE_BITS),
///   an option's premium in [0, 2^PRICE_BITS); `observedAt` neither in the future nor
///   older than `maxAge`. A post may carry the venues it aggregates; the contract checks
///   the posted price is their median.
/// - Instruments (docs/protocol.md, "Instruments"; the table is fixed at deployment). A
///   post carries a signed funding amount per instrument (`postMarks`; `postPrices` posts
///   zeros): nonzero only for perpetuals, |f| * 10000 <= maxFundingBp * the post's mark
///   (a governed clamp). At an option's expiry epoch its premium must be its intrinsic
///   value against the same post's underlying mark (call max(0, U - X), put
///   max(0, X - U)); after an instrument's expiry its mark must be the previous final mark.
///   The final funding amount is the median of the quorum's posts, like the marks, and the
///   index F_e = F_{e-1} + f_e (F_0 = 0) stays inside (-2^PRICE_BITS, 2^PRICE_BITS).
/// - Median. `quorum` is odd, q = 2f + 1. When a round has q posts its candidate is, per
///   instrument, the median of those q posts (the (f+1)-th smallest; equal values are
///   interchangeable, so ties need no rule). With at most f dishonest reporters among
///   them, every candidate lies between the smallest and largest honest post: one
///   dishonest reporter (q >= 3) cannot move the price outside the honest posts at all,
///   and not at all when the honest posts agree.
/// - Circuit breaker. A candidate within `maxMoveBp` of the previous final price, for
///   every instrument but options and instruments past their expiry (frozen marks), is
///   final at once. Otherwise the breaker trips: the candidate is
///   published (BreakerTripped) and becomes final by `releasePrices` once `breakerDelay`
///   seconds have passed -- a real crash clears without any governance change, members see
///   the price coming (and may deposit) first, and since it is a median, a move beyond the
///   band needs a majority of the quorum to report it.
/// - Staleness. A price is final only while every observation it is the median of is at
///   most `maxAge` old (breakerDelay < maxAge); a round whose oldest observation has aged
///   beyond maxAge has expired and the next post starts a new round. `finalisedAt` records
///   when each epoch's prices became final.
/// - Signed posts (`postSignedMarks`). A reporter may sign its post off-chain instead of
///   sending it: an EIP-191 signature (low s, v 27/28) of keccak256(abi.encode(
///   "zkclear-prices-v1", chainid, this oracle, epoch, observedAt, prices, funding,
///   keccak256(venues))), so a signature is worthless on another chain, oracle or epoch or
///   with any other value. Anyone (the operator, a reporter) submits exactly `quorum`
///   signed posts in one transaction (NotQuorum): each signer is recovered and must be a
///   reporter (NotReporter; a post altered after signing recovers a stranger), at most
///   once in the batch (AlreadyPosted), and each post passes every check of a direct one
///   (the same epoch, age, range, funding, expiry and venue rules, one PricesPosted each
///   with its reporter). The round then concludes at once -- medians, breaker, funding
///   index, as below -- from calldata: no post is stored. A batch goes only into a fresh
///   round (RoundHasPosts if it already has direct posts; an expired round is renewed
///   first, a held breaker refuses it). Liveness: the batch is all or nothing, and the
///   direct path stays open to every reporter -- a submitter who withholds posts, or a
///   round a reporter has started directly, is finished by direct posts. A submitter
///   holding more than a quorum chooses which posts to include, but any q posts of
///   distinct reporters, with at most f dishonest ones among all reporters, hold at most f
///   dishonest ones: the median bound below holds for every choice (it lies between the
///   smallest and largest honest post submitted, so between the honest posts). A tripped
///   batch is held like a direct round and expires like one; the same batch cannot be
///   submitted into the new round (its oldest observation is older than maxAge).
/// - Hashes. Final marks are stored with markHash = PoseidonChain(P[0..M-1], F[0..M-1] mod r)
///   (MarksFinalised; the next epoch's marks may be posted from then on). Without options
///   pricesHash = Poseidon(markHash, 0) is set at once (genesis included). With options the
///   reporters post the epoch's riskHash (`postRiskArrays`, with the arrays as calldata);
///   when `quorum` of them posted the same one it is final (RiskArraysFinal) and
///   pricesHash = Poseidon(markHash, riskHash) is set (PricesFinalised); until then
///   pricesHashOf is 0 and the epoch cannot be submitted. The ClearingHouse compares
///   pricesHash with the epoch proof's public inputs.
contract PriceOracle is IPriceOracle, Governed, PoseidonHasher, InstrumentTable {
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
    /// Largest |funding| per post, in basis points of the post's mark (governed).
    uint256 public maxFundingBp;
    /// The last epoch whose marks are final.
    uint256 public lastFinalEpoch;

    mapping(address => bool) public isReporter;
    mapping(uint256 => uint256) private _pricesHash;
    mapping(uint256 => uint256) private _markHash;
    mapping(uint256 => uint256) private _riskHash;
    mapping(uint256 => uint256[]) private _finalPrices;
    /// F_e, stored only in a pool with perpetuals (all zero otherwise).
    mapping(uint256 => int256[]) private _fundingIndex;
    mapping(uint256 => uint256) private _finalisedAt;
    /// Per epoch, its current round of direct posts (a signed batch writes it only when the
    /// breaker holds its candidate: count = quorum, for releasePrices and expiry).
    mapping(uint256 => Round) public rounds;
    /// The candidate held by a tripped breaker, per epoch (and its funding indices, in a
    /// pool with perpetuals).
    mapping(uint256 => uint256[]) private _pending;
    mapping(uint256 => int256[]) private _pendingIndex;
    /// keccak(epoch, attempt, reporter) => posted.
    mapping(bytes32 => bool) private _posted;
    /// keccak(epoch, attempt) => the round's posts, flattened (post j, instrument m at j*M+m).
    mapping(bytes32 => mapping(uint256 => uint256)) private _roundPrices;
    /// Same layout, the posts' funding amounts (only nonzero ones are written).
    mapping(bytes32 => mapping(uint256 => int256)) private _roundFunding;
    /// keccak(epoch, reporter) => posted a riskHash for epoch.
    mapping(bytes32 => bool) private _riskPosted;
    /// keccak(epoch, riskHash) => reporters who posted it.
    mapping(bytes32 => uint256) private _riskVotes;

    /// `limits` = [maxMoveBp, maxAge, breakerDelay, maxFundingBp].
    constructor(
        address governance_,
        address[6] memory poseidons,
        Instrument[] memory table,
        uint256[] memory genesisPrices,
        address[] memory reporters,
        uint256 quorum_,
        uint256[4] memory limits
    ) Governed(governance_) PoseidonHasher(poseidons) InstrumentTable(table) {
        deployer = msg.sender;
        nInstruments = table.length;
        if (genesisPrices.length != table.length) revert WrongPriceCount(genesisPrices.length, table.length);
        for (uint256 m = 0; m < table.length; m++) _checkRange(m, genesisPrices[m], table[m].kind == INSTRUMENT_OPTION);
        for (uint256 i = 0; i < reporters.length; i++) _addReporter(reporters[i]);
        _setQuorum(quorum_);
        _setLimits(limits[0], limits[1], limits[2]);
        _setMaxFunding(limits[3]);
        _finalise(0, genesisPrices, new int256[](table.length));
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

    /// The funding clamp: |f| * 10000 <= maxFundingBp * P per post (at most 10000).
    function setMaxFunding(uint256 maxFundingBp_) external onlyGovernance {
        _setMaxFunding(maxFundingBp_);
    }

    // --- reporters -----------------------------------------------------------------------

    /// Post settlement prices for `epoch` observed at `observedAt` (unix seconds) with no
    /// funding (postMarks with zeros); `venues` is empty or abi.encode(string[] names,
    /// uint256[][] prices) of the venues whose per-instrument median `prices` is.
    function postPrices(uint256 epoch, uint256 observedAt, uint256[] calldata prices, bytes calldata venues)
        external
    {
        _post(epoch, observedAt, prices, new int256[](nInstruments), venues);
    }

    /// Post `epoch`'s marks with each instrument's signed funding amount per lot (nonzero
    /// only for perpetuals, within the clamp); otherwise as postPrices.
    function postMarks(
        uint256 epoch,
        uint256 observedAt,
        uint256[] calldata prices,
        int256[] calldata funding,
        bytes calldata venues
    ) external {
        _post(epoch, observedAt, prices, funding, venues);
    }

    /// Post a whole quorum of reporters' signed posts for `epoch` in one transaction;
    /// anyone may submit it (the operator, a reporter). Each post is checked as a direct
    /// one -- its signer, recovered from a canonical signature of its prices digest, a
    /// reporter, once in the batch; the epoch, age, range, funding, expiry and venue
    /// rules -- and logged with PricesPosted. The round concludes at once (final, or held
    /// by the breaker) with the medians computed from calldata: the posts are never
    /// stored. Exactly `quorum` posts (NotQuorum), into a fresh round (RoundHasPosts if
    /// it has direct posts; BreakerPending if the breaker holds a candidate).
    function postSignedMarks(uint256 epoch, SignedPost[] calldata posts) external {
        _checkEpoch(epoch);
        uint256 q = quorum;
        if (posts.length != q) revert NotQuorum(posts.length, q);
        Round storage r = _currentRound(epoch);
        if (r.count != 0) revert RoundHasPosts(epoch, r.count);
        uint256 n = nInstruments;
        uint256[] memory px = new uint256[](q * n);
        uint256[] memory fx = new uint256[](q * n);
        address[] memory signers = new address[](q);
        uint256 oldest = block.timestamp;
        for (uint256 j = 0; j < q; j++) {
            uint256 observedAt = _takeSigned(epoch, j, posts[j], signers, px, fx);
            if (observedAt < oldest) oldest = observedAt;
        }
        if (!_conclude(epoch, px, fx, q, r)) {
            // Held by the breaker: releasePrices reads the round, and a stale candidate
            // expires like a direct round's (count > 0).
            r.startedAt = uint64(block.timestamp);
            r.oldestObservedAt = uint64(oldest);
            r.count = uint32(q);
        }
    }

    /// Post the hash of `epoch`'s option risk arrays (a pool with options, once `epoch`'s
    /// marks are final, once per reporter); `arrays` is only logged. When `quorum`
    /// reporters have posted the same hash it is final and so is pricesHash.
    function postRiskArrays(uint256 epoch, uint256 riskHash, bytes calldata arrays) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (!hasLiveOptions(epoch)) revert NoOptions();
        if (_markHash[epoch] == 0) revert PricesNotFinal(epoch);
        if (_pricesHash[epoch] != 0) revert RiskAlreadyFinal(epoch);
        if (riskHash >= FIELD_R) revert InvalidRiskHash(riskHash);
        bytes32 who = keccak256(abi.encode(epoch, msg.sender));
        if (_riskPosted[who]) revert RiskAlreadyPosted(epoch, msg.sender);
        _riskPosted[who] = true;
        uint256 votes = ++_riskVotes[keccak256(abi.encode(epoch, riskHash))];
        emit RiskArraysPosted(epoch, msg.sender, riskHash, arrays);
        if (votes >= quorum) {
            _riskHash[epoch] = riskHash;
            emit RiskArraysFinal(epoch, riskHash);
            _setPricesHash(epoch, _markHash[epoch], riskHash);
        }
    }

    /// Make a tripped candidate final once `breakerDelay` has passed and while its
    /// observations are at most `maxAge` old (anyone may call).
    function releasePrices(uint256 epoch) external {
        if (_markHash[epoch] != 0) revert PricesAlreadyFinal(epoch);
        Round storage r = rounds[epoch];
        if (r.trippedAt == 0) revert BreakerNotTripped(epoch);
        uint256 releaseAt = uint256(r.trippedAt) + breakerDelay;
        if (block.timestamp < releaseAt) revert BreakerDelayNotOver(epoch, releaseAt, block.timestamp);
        if (block.timestamp - r.oldestObservedAt > maxAge) {
            revert StalePrice(r.oldestObservedAt, block.timestamp, maxAge);
        }
        _finalise(epoch, _pending[epoch], _perpMask == 0 ? new int256[](nInstruments) : _pendingIndex[epoch]);
    }

    // --- views ---------------------------------------------------------------------------

    function pricesHashOf(uint256 epoch) external view returns (uint256) {
        return _pricesHash[epoch];
    }

    function markHashOf(uint256 epoch) external view returns (uint256) {
        return _markHash[epoch];
    }

    function riskHashOf(uint256 epoch) external view returns (uint256) {
        return _riskHash[epoch];
    }

    function finalPrices(uint256 epoch) external view returns (uint256[] memory) {
        if (_markHash[epoch] == 0) revert PricesNotFinal(epoch);
        return _finalPrices[epoch];
    }

    function fundingIndex(uint256 epoch) external view returns (int256[] memory) {
        if (_markHash[epoch] == 0) revert PricesNotFinal(epoch);
        return _perpMask == 0 ? new int256[](nInstruments) : _fundingIndex[epoch];
    }

    function finalisedAt(uint256 epoch) external view returns (uint256) {
        return _finalisedAt[epoch];
    }

    /// The EIP-191 digest `post`'s reporter signs for `epoch` (its v, r, s are ignored):
    /// keccak256(abi.encode("zkclear-prices-v1", chainid, this oracle, epoch, observedAt,
    /// prices, funding, keccak256(venues))).
    function pricesDigest(uint256 epoch, SignedPost calldata post) external view returns (bytes32) {
        return _pricesDigest(epoch, post);
    }

    /// The candidate a tripped breaker holds for `epoch` and when it may be released
    /// (empty and 0 if none).
    function pendingPrices(uint256 epoch) external view returns (uint256[] memory prices, uint256 releaseAt) {
        Round storage r = rounds[epoch];
        if (r.trippedAt == 0 || _markHash[epoch] != 0) return (prices, 0);
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

    function _post(
        uint256 epoch,
        uint256 observedAt,
        uint256[] calldata prices,
        int256[] memory funding,
        bytes calldata venues
    ) private {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        _checkEpoch(epoch);
        _checkPost(epoch, observedAt, prices, funding, venues);
        Round storage r = _currentRound(epoch);
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
        uint256 n = nInstruments;
        uint256 base = uint256(r.count) * n;
        for (uint256 m = 0; m < n; m++) {
            _roundPrices[round][base + m] = prices[m];
            if (funding[m] != 0) _roundFunding[round][base + m] = funding[m];
        }
        r.count += 1;
        emit PricesPosted(epoch, msg.sender, observedAt, prices, funding, venues);

        uint256 q = quorum;
        if (r.count >= q) {
            (uint256[] memory px, uint256[] memory fx) = _roundPosts(round, q);
            _conclude(epoch, px, fx, q, r);
        }
    }

    /// What a post must satisfy on either path, besides its reporter and epoch: observed
    /// neither in the future nor more than maxAge ago, one mark and one funding amount
    /// per instrument (_checkMarks), the venues' median if it carries venues.
    function _checkPost(
        uint256 epoch,
        uint256 observedAt,
        uint256[] calldata prices,
        int256[] memory funding,
        bytes calldata venues
    ) private view {
        if (observedAt > block.timestamp) revert PriceFromFuture(observedAt, block.timestamp);
        if (block.timestamp - observedAt > maxAge) revert StalePrice(observedAt, block.timestamp, maxAge);
        uint256 n = nInstruments;
        if (prices.length != n) revert WrongPriceCount(prices.length, n);
        if (funding.length != n) revert WrongFundingCount(funding.length, n);
        _checkMarks(epoch, prices, funding);
        if (venues.length != 0) _checkVenues(prices, venues);
    }

    /// `epoch`'s round, a new one (RoundExpired) if its oldest observation has aged
    /// beyond maxAge; BreakerPending while the breaker holds its candidate.
    function _currentRound(uint256 epoch) private returns (Round storage r) {
        r = rounds[epoch];
        if (r.count > 0 && block.timestamp - r.oldestObservedAt > maxAge) {
            r.attempt += 1;
            r.count = 0;
            r.trippedAt = 0;
            emit RoundExpired(epoch, r.attempt);
        }
        if (r.trippedAt != 0) revert BreakerPending(epoch, r.trippedAt + breakerDelay);
    }

    /// Post `j` of a signed batch checked and taken: its signer (a reporter, not an
    /// earlier post's: AlreadyPosted) into `signers`, its marks and funding into the
    /// flattened `px`, `fx` (post j, instrument m at j*M+m); returns its observedAt.
    function _takeSigned(
        uint256 epoch,
        uint256 j,
        SignedPost calldata p,
        address[] memory signers,
        uint256[] memory px,
        uint256[] memory fx
    ) private returns (uint256) {
        address who = Signatures.recover(_pricesDigest(epoch, p), p.v, p.r, p.s);
        if (who == address(0)) revert InvalidPostSignature(j);
        if (!isReporter[who]) revert NotReporter(who);
        for (uint256 k = 0; k < j; k++) {
            if (signers[k] == who) revert AlreadyPosted(epoch, who);
        }
        signers[j] = who;
        _checkPost(epoch, p.observedAt, p.prices, p.funding, p.venues);
        uint256 n = nInstruments;
        for (uint256 m = 0; m < n; m++) {
            px[j * n + m] = p.prices[m];
            fx[j * n + m] = uint256(p.funding[m]);
        }
        emit PricesPosted(epoch, who, p.observedAt, p.prices, p.funding, p.venues);
        return p.observedAt;
    }

    /// pricesDigest: binds the domain, chain, oracle, epoch and every value of the post.
    function _pricesDigest(uint256 epoch, SignedPost calldata p) private view returns (bytes32) {
        return Signatures.eip191(keccak256(abi.encode(
            "zkclear-prices-v1", block.chainid, address(this), epoch, p.observedAt, p.prices, p.funding,
            keccak256(p.venues)
        )));
    }

    /// A direct round's first `count` posts from storage, flattened as `px`, `fx` (the
    /// funding only for perpetuals: the other words are 0).
    function _roundPosts(bytes32 round, uint256 count)
        private
        view
        returns (uint256[] memory px, uint256[] memory fx)
    {
        uint256 n = nInstruments;
        uint256 perps = _perpMask;
        px = new uint256[](count * n);
        fx = new uint256[](count * n);
        for (uint256 i = 0; i < count * n; i++) {
            px[i] = _roundPrices[round][i];
            if (perps >> (i % n) & 1 == 1) fx[i] = uint256(_roundFunding[round][i]);
        }
    }

    /// The round has its quorum (`count` posts, flattened in `px`, `fx`): the median
    /// candidate is final (true), or held by the breaker (false).
    function _conclude(uint256 epoch, uint256[] memory px, uint256[] memory fx, uint256 count, Round storage r)
        private
        returns (bool)
    {
        uint256 n = nInstruments;
        uint256[] memory med = new uint256[](n);
        for (uint256 m = 0; m < n; m++) med[m] = _median(px, count, m, 0);
        int256[] memory index = _nextFundingIndex(epoch, fx, count);
        if (_withinBand(epoch, med)) {
            _finalise(epoch, med, index);
            return true;
        }
        r.trippedAt = uint64(block.timestamp);
        _pending[epoch] = med;
        if (_perpMask != 0) _pendingIndex[epoch] = index;
        emit BreakerTripped(epoch, med, block.timestamp + breakerDelay);
        return false;
    }

    function _checkRange(uint256 m, uint256 p, bool isOption) private pure {
        if (p == 0 && !isOption) revert ZeroPrice(m);
        if (p >> PRICE_BITS != 0) revert PriceTooLarge(m, p);
    }

    /// Every mark in range, funding only for perpetuals and within the clamp, an option's
    /// premium at its expiry epoch its intrinsic value (same post's underlying), marks
    /// after expiry frozen. Plain futures cost no storage read here.
    function _checkMarks(uint256 epoch, uint256[] calldata prices, int256[] memory funding) private view {
        uint256 options = _optionMask;
        uint256 perps = _perpMask;
        uint256 expiring = _expiringMask;
        for (uint256 m = 0; m < prices.length; m++) {
            uint256 p = prices[m];
            _checkRange(m, p, options >> m & 1 == 1);
            int256 f = funding[m];
            if (f != 0) {
                if (perps >> m & 1 == 0) revert FundingNotPerpetual(m, f);
                uint256 af = f > 0 ? uint256(f) : uint256(-(f + 1)) + 1;
                if (af > p || af * BP > maxFundingBp * p) revert FundingBeyondClamp(m, f, p, maxFundingBp);
            }
            if (expiring >> m & 1 == 0) continue;
            Instrument storage ins = _instrument(m);
            uint256 x = ins.expiry;
            if (epoch > x) {
                uint256 last = _finalPrices[epoch - 1][m];
                if (p != last) revert MarkFrozen(m, p, last);
            } else if (epoch == x && options >> m & 1 == 1) {
                uint256 u = prices[ins.underlying];
                uint256 k = ins.strike;
                uint256 v = ins.isCall ? (u > k ? u - k : 0) : (k > u ? k - u : 0);
                if (p != v) revert NotIntrinsicValue(m, p, v);
            }
        }
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

    /// Options and instruments past their expiry (frozen marks) are not banded.
    function _withinBand(uint256 epoch, uint256[] memory prices) private view returns (bool) {
        uint256[] storage prev = _finalPrices[epoch - 1];
        uint256 unbanded = _optionMask;
        uint256 expiring = _expiringMask;
        for (uint256 m = 0; m < nInstruments; m++) {
            if (unbanded >> m & 1 == 1) continue;
            if (expiring >> m & 1 == 1 && epoch > _instrument(m).expiry) continue;
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

    function _setMaxFunding(uint256 maxFundingBp_) private {
        if (maxFundingBp_ > BP) revert InvalidMaxFunding(maxFundingBp_);
        maxFundingBp = maxFundingBp_;
        emit MaxFundingSet(maxFundingBp_);
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

    /// The median of instrument m's `count` posts (`count` odd) in the flattened `flat`,
    /// each word XOR `flip` while sorted (1 << 255 sorts signed values as unsigned ones:
    /// flipping the sign bit preserves the order).
    function _median(uint256[] memory flat, uint256 count, uint256 m, uint256 flip) private view returns (uint256) {
        uint256[] memory col = new uint256[](count);
        for (uint256 j = 0; j < count; j++) col[j] = flat[j * nInstruments + m] ^ flip;
        _sort(col);
        return col[count / 2] ^ flip;
    }

    /// F_{e-1} + the median of the `count` posts' funding amounts in the flattened `fx`,
    /// per perpetual (all zero in a pool without perpetuals); each index within
    /// (-2^PRICE_BITS, 2^PRICE_BITS).
    function _nextFundingIndex(uint256 epoch, uint256[] memory fx, uint256 count)
        private
        view
        returns (int256[] memory index)
    {
        uint256 n = nInstruments;
        index = new int256[](n);
        uint256 perps = _perpMask;
        if (perps == 0) return index;
        int256[] storage prev = _fundingIndex[epoch - 1];
        int256 bound = int256(1 << PRICE_BITS);
        for (uint256 m = 0; m < n; m++) {
            if (perps >> m & 1 == 0) continue;
            int256 f = (prev.length == 0 ? int256(0) : prev[m]) + int256(_median(fx, count, m, 1 << 255));
            if (f <= -bound || f >= bound) revert FundingIndexOutOfRange(m, f);
            index[m] = f;
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

    function _finalise(uint256 epoch, uint256[] memory prices, int256[] memory index) private {
        uint256 n = nInstruments;
        uint256[] memory v = new uint256[](2 * n);
        for (uint256 m = 0; m < n; m++) {
            v[m] = prices[m];
            v[n + m] = _signedToField(index[m]);
        }
        uint256 h = _poseidonChain(v);
        _finalPrices[epoch] = prices;
        if (_perpMask != 0) _fundingIndex[epoch] = index;
        _markHash[epoch] = h;
        _finalisedAt[epoch] = block.timestamp;
        lastFinalEpoch = epoch;
        emit MarksFinalised(epoch, prices, index, h);
        // No live option, no risk round: riskHash = 0. Genesis holds no positions (the
        // engine's genesis state has riskHash_0 = 0), and an option's array is not used
        // from its expiry epoch on (its positions settle and close).
        if (epoch == 0 || !hasLiveOptions(epoch)) _setPricesHash(epoch, h, 0);
    }

    function _setPricesHash(uint256 epoch, uint256 markHash, uint256 riskHash) private {
        uint256 h = _poseidon2(markHash, riskHash);
        _pricesHash[epoch] = h;
        emit PricesFinalised(epoch, markHash, riskHash, h);
    }
}
