// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {IInstruments} from "./IInstruments.sol";

/// @notice What the oracle reads from the clearing house it is bound to.
interface IOracleEpochs {
    /// The epoch collecting events now.
    function openEpoch() external view returns (uint256);
    /// The oracle the clearing house reads its prices from.
    function oracle() external view returns (address);
}

/// @notice Settlement prices per epoch (docs/protocol.md, "Oracle" and "Instruments"):
/// authorised reporters post the marks (and perpetuals' funding) for the epoch the
/// clearing house is working on; the per-instrument median of the first `quorum` (odd)
/// posts is final, or -- when it moves beyond the band -- final after `breakerDelay`
/// seconds. In a pool with options the reporters then post the epoch's risk-arrays hash;
/// the epoch's pricesHash is set when `quorum` of them agree. Epoch 0 holds the genesis
/// marks.
interface IPriceOracle is IInstruments {
    /// A reporter's post signed off-chain (`postSignedMarks`): what postMarks takes, and
    /// the reporter's EIP-191 signature (low s, v 27/28) of the prices digest
    /// ("zkclear-prices-v1", chain id, oracle, epoch, observedAt, prices, funding,
    /// keccak256(venues)).
    struct SignedPost {
        uint256 observedAt;
        uint256[] prices;
        int256[] funding;
        bytes venues;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    error NotReporter(address caller);
    error AlreadyReporter(address reporter);
    error InvalidQuorum(uint256 quorum, uint256 reporters);
    error EvenQuorum(uint256 quorum);
    error InvalidLimits(uint256 maxMoveBp, uint256 maxAge, uint256 breakerDelay);
    error NotBinder(address caller);
    error AlreadyBound(address clearingHouse);
    error WrongClearingHouse(address clearingHouse);
    error ClearingHouseNotBound();
    error PricesAlreadyFinal(uint256 epoch);
    error PriceEpochInFuture(uint256 epoch, uint256 openEpoch);
    error PriceEpochOutOfOrder(uint256 epoch, uint256 next);
    error WrongPriceCount(uint256 given, uint256 expected);
    error ZeroPrice(uint256 instrument);
    error PriceTooLarge(uint256 instrument, uint256 price);
    error StalePrice(uint256 observedAt, uint256 nowTs, uint256 maxAge);
    error PriceFromFuture(uint256 observedAt, uint256 nowTs);
    error AlreadyPosted(uint256 epoch, address reporter);
    error PricesNotFinal(uint256 epoch);
    error InvalidVenues(uint256 names, uint256 priceLists);
    error VenueMedianMismatch(uint256 instrument, uint256 price, uint256 venueMedian);
    error BreakerPending(uint256 epoch, uint256 releaseAt);
    error BreakerNotTripped(uint256 epoch);
    error BreakerDelayNotOver(uint256 epoch, uint256 releaseAt, uint256 nowTs);
    error WrongFundingCount(uint256 given, uint256 expected);
    /// Funding posted for an instrument that is not a perpetual.
    error FundingNotPerpetual(uint256 instrument, int256 funding);
    /// |funding| * 10000 > maxFundingBp * the post's mark of the instrument.
    error FundingBeyondClamp(uint256 instrument, int256 funding, uint256 price, uint256 maxFundingBp);
    /// The funding index F_e = F_{e-1} + f_e would leave (-2^PRICE_BITS, 2^PRICE_BITS).
    error FundingIndexOutOfRange(uint256 instrument, int256 index);
    error InvalidMaxFunding(uint256 maxFundingBp);
    /// At its expiry epoch an option's mark must be its intrinsic value against the same
    /// post's underlying mark.
    error NotIntrinsicValue(uint256 instrument, uint256 premium, uint256 intrinsic);
    /// After its expiry epoch an instrument's mark stays the final one.
    error MarkFrozen(uint256 instrument, uint256 posted, uint256 finalMark);
    /// postRiskArrays in a pool without options.
    error NoOptions();
    error RiskAlreadyFinal(uint256 epoch);
    error RiskAlreadyPosted(uint256 epoch, address reporter);
    error InvalidRiskHash(uint256 riskHash);
    /// A signed batch holds `posts` posts; it must hold exactly `quorum`.
    error NotQuorum(uint256 posts, uint256 quorum);
    /// Post `post` of a signed batch has a malleable (high-s) signature, a v not 27/28, or
    /// one ecrecover refuses.
    error InvalidPostSignature(uint256 post);
    /// A signed batch into a round that already holds `posts` direct posts (they finish
    /// the round directly).
    error RoundHasPosts(uint256 epoch, uint256 posts);

    event ReporterAdded(address indexed reporter);
    event ReporterRemoved(address indexed reporter);
    event QuorumSet(uint256 quorum);
    event LimitsSet(uint256 maxMoveBp, uint256 maxAge, uint256 breakerDelay);
    event MaxFundingSet(uint256 maxFundingBp);
    event ClearingHouseBound(address indexed clearingHouse);
    /// `venues` is empty or abi.encode(string[] names, uint256[][] prices) with
    /// prices[v][m] the price of instrument m at venue v; `prices` is their median.
    /// `funding`: the per-lot funding amounts f posted with the marks (0 but perpetuals).
    event PricesPosted(
        uint256 indexed epoch, address indexed reporter, uint256 observedAt, uint256[] prices, int256[] funding, bytes venues
    );
    event RoundExpired(uint256 indexed epoch, uint256 attempt);
    event BreakerTripped(uint256 indexed epoch, uint256[] prices, uint256 releaseAt);
    /// The marks P and funding indices F of `epoch` are final:
    /// markHash = PoseidonChain(P[0..M-1], F[0..M-1] mod r).
    event MarksFinalised(uint256 indexed epoch, uint256[] prices, int256[] fundingIndex, uint256 markHash);
    /// `epoch`'s pricesHash = Poseidon(markHash, riskHash) is set (riskHash 0 in a pool
    /// without options, where this follows MarksFinalised in the same transaction): the
    /// epoch can be submitted.
    event PricesFinalised(uint256 indexed epoch, uint256 markHash, uint256 riskHash, uint256 pricesHash);
    /// A reporter's riskHash for `epoch`; `arrays` is calldata for auditors (the contract
    /// neither parses nor hashes it; zkclear.chain.client.encode_risk_arrays).
    event RiskArraysPosted(uint256 indexed epoch, address indexed reporter, uint256 riskHash, bytes arrays);
    /// `quorum` reporters posted this riskHash for `epoch`.
    event RiskArraysFinal(uint256 indexed epoch, uint256 riskHash);

    function nInstruments() external view returns (uint256);
    function lastFinalEpoch() external view returns (uint256);
    /// Poseidon(markHash, riskHash) of `epoch`, the epoch proof's pricesHash; 0 while the
    /// marks, or in a pool with options the risk arrays' hash, are not final.
    function pricesHashOf(uint256 epoch) external view returns (uint256);
    /// PoseidonChain(P[0..M-1], F[0..M-1] mod r) of `epoch`'s final marks, 0 while not final.
    function markHashOf(uint256 epoch) external view returns (uint256);
    /// The final riskHash of `epoch` (0 in a pool without options or while not final).
    function riskHashOf(uint256 epoch) external view returns (uint256);
    /// The final marks of `epoch` (reverts PricesNotFinal before quorum).
    function finalPrices(uint256 epoch) external view returns (uint256[] memory);
    /// The funding indices F of `epoch` (reverts PricesNotFinal before quorum).
    function fundingIndex(uint256 epoch) external view returns (int256[] memory);
    /// Block time at which `epoch`'s marks became final (0 while not final).
    function finalisedAt(uint256 epoch) external view returns (uint256);
}
