// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice What the oracle reads from the clearing house it is bound to.
interface IOracleEpochs {
    /// The epoch collecting events now.
    function openEpoch() external view returns (uint256);
    /// The oracle the clearing house reads its prices from.
    function oracle() external view returns (address);
}

/// @notice Settlement prices per epoch (docs/protocol.md, "Oracle"): authorised reporters
/// post for the epoch the clearing house is working on; the per-instrument median of the
/// first `quorum` (odd) posts is final, or -- when it moves beyond the band -- final after
/// `breakerDelay` seconds. Epoch 0 holds the genesis prices.
interface IPriceOracle {
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

    event ReporterAdded(address indexed reporter);
    event ReporterRemoved(address indexed reporter);
    event QuorumSet(uint256 quorum);
    event LimitsSet(uint256 maxMoveBp, uint256 maxAge, uint256 breakerDelay);
    event ClearingHouseBound(address indexed clearingHouse);
    /// `venues` is empty or abi.encode(string[] names, uint256[][] prices) with
    /// prices[v][m] the price of instrument m at venue v; `prices` is their median.
    event PricesPosted(uint256 indexed epoch, address indexed reporter, uint256 observedAt, uint256[] prices, bytes venues);
    event RoundExpired(uint256 indexed epoch, uint256 attempt);
    event BreakerTripped(uint256 indexed epoch, uint256[] prices, uint256 releaseAt);
    event PricesFinalised(uint256 indexed epoch, uint256[] prices, uint256 pricesHash);

    function nInstruments() external view returns (uint256);
    function lastFinalEpoch() external view returns (uint256);
    /// PoseidonChain(P[0..M-1]) of the final prices of `epoch`, or 0 while not final.
    function pricesHashOf(uint256 epoch) external view returns (uint256);
    /// The final prices of `epoch` (reverts PricesNotFinal before quorum).
    function finalPrices(uint256 epoch) external view returns (uint256[] memory);
    /// Block time at which `epoch`'s prices became final (0 while not final).
    function finalisedAt(uint256 epoch) external view returns (uint256);
}
