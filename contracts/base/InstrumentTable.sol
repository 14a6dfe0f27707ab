// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Constants} from "./Constants.sol";
import {IInstruments, Instrument} from "../interfaces/IInstruments.sol";

/// @title The deployment's fixed instrument table (docs/protocol.md, "Instruments").
/// @notice Checked in the constructor exactly as clearing/instruments.py checks a table
/// (`Instrument.__post_init__` row by row, then `check_table`'s options), stored, and never
/// changed: there is no setter, governance included. A row's kind must be one of the four;
/// a dated future or an option has an expiry epoch >= 1, a future or a perpetual none; an
/// option's strike is in [1, 2^PRICE_BITS) and its underlying is another instrument of the
/// table, not an option, expiring no earlier (or never); a non-option has no underlying,
/// strike or isCall (its encoding is canonical, so equal tables hash equally).
/// Per-kind bit masks (immutable) spare the hot paths any storage read for plain futures.
abstract contract InstrumentTable is IInstruments, Constants {
    Instrument[] private _table;
    uint256 internal immutable _tableSize;
    /// Bit m set iff instrument m is a perpetual / an option / has an expiry.
    uint256 internal immutable _perpMask;
    uint256 internal immutable _optionMask;
    uint256 internal immutable _expiringMask;
    bytes32 public immutable instrumentsHash;

    constructor(Instrument[] memory table) {
        uint256 n = table.length;
        if (n == 0 || n > MAX_INSTRUMENTS) revert InvalidInstrumentCount(n, MAX_INSTRUMENTS);
        uint256 perps;
        uint256 options;
        uint256 expiring;
        for (uint256 m = 0; m < n; m++) {
            Instrument memory ins = table[m];
            _checkRow(m, ins);
            if (ins.kind == INSTRUMENT_PERPETUAL) perps |= 1 << m;
            if (ins.kind == INSTRUMENT_OPTION) options |= 1 << m;
            if (ins.expiry != 0) expiring |= 1 << m;
            _table.push(ins);
        }
        for (uint256 m = 0; m < n; m++) {
            if (options >> m & 1 == 1) _checkUnderlying(table, m);
        }
        _tableSize = n;
        _perpMask = perps;
        _optionMask = options;
        _expiringMask = expiring;
        instrumentsHash = keccak256(abi.encode(table));
    }

    function instruments() external view returns (Instrument[] memory) {
        return _table;
    }

    function hasOptions() public view returns (bool) {
        return _optionMask != 0;
    }

    /// Whether some option is still live in `epoch` (epoch < its expiry): only then does
    /// the epoch's margin use risk arrays (a settled option's positions are zero), so only
    /// then is there a risk round (docs/protocol.md, "Instruments").
    function hasLiveOptions(uint256 epoch) public view returns (bool) {
        uint256 options = _optionMask;
        for (uint256 m = 0; options >> m != 0; m++) {
            if (options >> m & 1 == 1 && epoch < _table[m].expiry) return true;
        }
        return false;
    }

    /// The hashed columns (clearing/instruments.py `table_columns`).
    function _tableColumns()
        internal
        view
        returns (uint256[] memory isPerp, uint256[] memory isOption, uint256[] memory expiry)
    {
        uint256 n = _tableSize;
        isPerp = new uint256[](n);
        isOption = new uint256[](n);
        expiry = new uint256[](n);
        for (uint256 m = 0; m < n; m++) {
            isPerp[m] = _perpMask >> m & 1;
            isOption[m] = _optionMask >> m & 1;
            if (_expiringMask >> m & 1 == 1) expiry[m] = _table[m].expiry;
        }
    }

    function _instrument(uint256 m) internal view returns (Instrument storage) {
        return _table[m];
    }

    function _checkRow(uint256 m, Instrument memory ins) private pure {
        if (ins.kind > INSTRUMENT_OPTION) revert InvalidInstrumentKind(m, ins.kind);
        bool expires = ins.kind == INSTRUMENT_DATED || ins.kind == INSTRUMENT_OPTION;
        if (expires && ins.expiry == 0) revert MissingExpiry(m);
        if (!expires && ins.expiry != 0) revert UnexpectedExpiry(m, ins.expiry);
        if (ins.kind == INSTRUMENT_OPTION) {
            if (ins.strike == 0 || ins.strike >> PRICE_BITS != 0) revert InvalidStrike(m, ins.strike);
        } else if (ins.underlying != 0 || ins.strike != 0 || ins.isCall) {
            revert UnexpectedOptionTerms(m);
        }
    }

    function _checkUnderlying(Instrument[] memory table, uint256 m) private pure {
        Instrument memory ins = table[m];
        uint256 u = ins.underlying;
        if (u >= table.length || u == m) revert InvalidUnderlying(m, u);
        Instrument memory und = table[u];
        if (und.kind == INSTRUMENT_OPTION) revert UnderlyingIsOption(m, u);
        if (und.expiry != 0 && und.expiry < ins.expiry) {
            revert UnderlyingExpiresFirst(m, u, und.expiry, ins.expiry);
        }
    }
}
