// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {EpochLog} from "./EpochLog.sol";
import {Governed} from "./Governed.sol";
import {InstrumentTable} from "./InstrumentTable.sol";
import {IRiskParameters} from "../interfaces/IClearingHouse.sol";

/// @title Governed risk parameters and their on-chain paramsHash.
/// @notice paramsHash = PoseidonChain(imFactorBp, penaltyBp, dfFloor, dfShareBp, stressBp,
/// skinCap, positionLimits[0..M-1], shocks[0][0..M-1], ..., shocks[K-1][0..M-1],
/// isPerp[0..M-1], isOption[0..M-1], expiry[0..M-1]) with shocks encoded mod r (docs/protocol.md, "State"), computed here
/// from the parameters themselves and emitted with them, so nobody has to trust a hash
/// handed in from outside. The last three blocks are columns of the deployment's
/// instrument table (InstrumentTable), which governance cannot change. Changes go through
/// Governance (threshold + time-lock); an epoch is cleared under the hash that was active
/// when it closed (EpochLog freezes it). `fund` = [dfFloor, dfShareBp, stressBp, skinCap],
/// the default fund's parameters (docs/protocol.md, "Default fund").
abstract contract RiskParameters is EpochLog, Governed, InstrumentTable, IRiskParameters {
    uint256 public paramsHash;

    constructor(
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256[4] memory fund,
        uint256[] memory positionLimits,
        int256[] memory shocks
    ) {
        if (_tableSize != nInstruments) revert InstrumentCountMismatch(_tableSize, nInstruments);
        _setRiskParams(imFactorBp, penaltyBp, fund, positionLimits, shocks);
    }

    /// Shocks are row-major: shocks[k * M + m] is scenario k's move of instrument m, in bp.
    function setRiskParams(
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256[4] calldata fund,
        uint256[] calldata positionLimits,
        int256[] calldata shocks
    ) external onlyGovernance {
        _setRiskParams(imFactorBp, penaltyBp, fund, positionLimits, shocks);
    }

    /// The paramsHash these parameters would have (checked as setRiskParams checks them):
    /// lets anyone see the hash of a pending governance proposal before it takes effect.
    function hashRiskParams(
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256[4] calldata fund,
        uint256[] calldata positionLimits,
        int256[] calldata shocks
    ) external view returns (uint256) {
        return _hashRiskParams(imFactorBp, penaltyBp, fund, positionLimits, shocks);
    }

    function _setRiskParams(
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256[4] memory fund,
        uint256[] memory positionLimits,
        int256[] memory shocks
    ) private {
        uint256 h = _hashRiskParams(imFactorBp, penaltyBp, fund, positionLimits, shocks);
        paramsHash = h;
        (uint256[] memory isPerp, uint256[] memory isOption, uint256[] memory expiry) = _tableColumns();
        emit RiskParamsSet(
            h, imFactorBp, penaltyBp, fund[0], fund[1], fund[2], fund[3], positionLimits, shocks, isPerp, isOption, expiry
        );
    }

    function _hashRiskParams(
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256[4] memory fund,
        uint256[] memory positionLimits,
        int256[] memory shocks
    ) private view returns (uint256) {
        uint256 m = nInstruments;
        if (positionLimits.length != m || shocks.length != nScenarios * m) {
            revert WrongParamsLength(positionLimits.length, shocks.length, m, nScenarios);
        }
        if (imFactorBp < BP || imFactorBp >> IM_FACTOR_BITS != 0) revert InvalidImFactor(imFactorBp);
        if (penaltyBp > BP) revert InvalidPenalty(penaltyBp);
        if (
            fund[0] >> FUND_BITS != 0 || fund[1] >> SCALE_BITS != 0 || fund[2] < BP || fund[2] >> SCALE_BITS != 0
                || fund[3] >> FUND_BITS != 0
        ) revert InvalidFundParams(fund[0], fund[1], fund[2], fund[3]);
        uint256 h = 6; // the scalars before the position limits
        uint256[] memory v = new uint256[](h + 4 * m + shocks.length);
        v[0] = imFactorBp;
        v[1] = penaltyBp;
        for (uint256 i = 0; i < 4; i++) {
            v[2 + i] = fund[i];
        }
        for (uint256 i = 0; i < m; i++) {
            uint256 lim = positionLimits[i];
            if (lim == 0 || lim >> DELTA_BITS != 0) revert InvalidPositionLimit(i, lim);
            v[h + i] = lim;
        }
        int256 bound = int256(1 << SHOCK_BITS);
        for (uint256 j = 0; j < shocks.length; j++) {
            int256 s = shocks[j];
            if (s < -bound || s >= bound) revert InvalidShock(j / m, j % m, s);
            v[h + m + j] = _signedToField(s);
        }
        (uint256[] memory isPerp, uint256[] memory isOption, uint256[] memory expiry) = _tableColumns();
        uint256 at = h + m + shocks.length;
        for (uint256 i = 0; i < m; i++) {
            v[at + i] = isPerp[i];
            v[at + m + i] = isOption[i];
            v[at + 2 * m + i] = expiry[i];
        }
        return _poseidonChain(v);
    }
}
