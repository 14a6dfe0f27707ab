// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice Settlement prices per epoch: authorised reporters post, the median of the first
/// `quorum` posts is final. Epoch 0 holds the genesis prices.
interface IPriceOracle {
    error NotReporter(address caller);
    error AlreadyReporter(address reporter);
    error InvalidQuorum(uint256 quorum, uint256 reporters);
    error InvalidLimits(uint256 maxMoveBp, uint256 maxAge);
    error PricesAlreadyFinal(uint256 epoch);
    error PriceEpochNotOpen(uint256 epoch, uint256 open);
    error WrongPriceCount(uint256 given, uint256 expected);
    error ZeroPrice(uint256 instrument);
    error PriceTooLarge(uint256 instrument, uint256 price);
    error PriceOutOfBand(uint256 instrument, uint256 price, uint256 previous, uint256 maxMoveBp);
    error StalePrice(uint256 observedAt, uint256 nowTs, uint256 maxAge);
    error PriceFromFuture(uint256 observedAt, uint256 nowTs);
    error AlreadyPosted(uint256 epoch, address reporter);
    error PricesNotFinal(uint256 epoch);

    event ReporterAdded(address indexed reporter);
    event ReporterRemoved(address indexed reporter);
    event QuorumSet(uint256 quorum);
    event LimitsSet(uint256 maxMoveBp, uint256 maxAge);
    event PricesPosted(uint256 indexed epoch, address indexed reporter, uint256 observedAt, uint256[] prices);
    event RoundExpired(uint256 indexed epoch, uint256 attempt);
    event PricesFinalised(uint256 indexed epoch, uint256[] prices, uint256 pricesHash);

    function nInstruments() external view returns (uint256);
    function lastFinalEpoch() external view returns (uint256);
    /// PoseidonChain(P[0..M-1]) of the final prices of `epoch`, or 0 while not final.
    function pricesHashOf(uint256 epoch) external view returns (uint256);
    /// The final prices of `epoch` (reverts PricesNotFinal before quorum).
    function finalPrices(uint256 epoch) external view returns (uint256[] memory);
}
