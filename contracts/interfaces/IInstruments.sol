// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

/// @notice One row of a deployment's fixed instrument table (docs/protocol.md,
/// "Instruments"; clearing/instruments.py `Instrument`). `kind`: 0 future, 1 perpetual,
/// 2 dated future, 3 option. `expiry`: the epoch of final settlement, 0 for futures and
/// perpetuals, >= 1 for dated futures and options. `underlying` (an index into the table),
/// `isCall` and `strike` (ticks of the underlying, in [1, 2^PRICE_BITS)) are an option's;
/// every other kind has them 0 / false / 0, so equal tables have equal encodings.
struct Instrument {
    uint8 kind;
    uint64 expiry;
    uint16 underlying;
    bool isCall;
    uint256 strike;
}

/// @notice The instrument table both the oracle and the clearing house are deployed with;
/// nobody can change it afterwards. The epoch proof sees three of its columns, isPerp,
/// isOption and expiry, through paramsHash.
interface IInstruments {
    error InvalidInstrumentCount(uint256 count, uint256 maxCount);
    error InvalidInstrumentKind(uint256 instrument, uint256 kind);
    /// A dated future or an option without an expiry epoch.
    error MissingExpiry(uint256 instrument);
    /// A future or a perpetual with an expiry epoch.
    error UnexpectedExpiry(uint256 instrument, uint256 expiry);
    /// An option's strike outside [1, 2^PRICE_BITS).
    error InvalidStrike(uint256 instrument, uint256 strike);
    /// A non-option with an underlying, a strike or isCall set.
    error UnexpectedOptionTerms(uint256 instrument);
    /// An option whose underlying is not another instrument of the table.
    error InvalidUnderlying(uint256 instrument, uint256 underlying);
    error UnderlyingIsOption(uint256 instrument, uint256 underlying);
    /// An option whose underlying expires before it does.
    error UnderlyingExpiresFirst(uint256 instrument, uint256 underlying, uint256 underlyingExpiry, uint256 expiry);

    /// The table, as deployed.
    function instruments() external view returns (Instrument[] memory);
    /// keccak256(abi.encode(instruments())): the clearing house compares its table with
    /// its oracle's through it.
    function instrumentsHash() external view returns (bytes32);
    /// Whether the table has an option (then every epoch has a risk round).
    function hasOptions() external view returns (bool);
}
