// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {EPOCH_PUBLIC_INPUTS} from "../interfaces/IEpochVerifier.sol";

/// @title Constants shared with the off-chain code, mirrored by name.
/// @notice Every constant here has a Python twin of the same name (zkclear.bounds,
/// zkclear.field.P as FIELD_R, clearing.events.Kind as KIND_*, the epoch circuit's public
/// signal order as PUB_*). zkclear.contracts reads them from each deployed contract and
/// refuses a deployment where one differs, so a value never silently lives in two places.
abstract contract Constants {
    /// BN254 scalar field order: every hashed value and public input is below it.
    uint256 public constant FIELD_R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// Bounds (docs/protocol.md, "Bounds"): cash amounts are below 2^CASH_BITS,
    /// positions and position limits below 2^DELTA_BITS, prices below 2^PRICE_BITS,
    /// scenario shocks in [-2^SHOCK_BITS, 2^SHOCK_BITS).
    uint256 public constant DELTA_BITS = 48;
    uint256 public constant CASH_BITS = 120;
    uint256 public constant PRICE_BITS = 48;
    uint256 public constant SHOCK_BITS = 16;
    uint256 public constant IM_FACTOR_BITS = 16;
    uint256 public constant BP = 10_000;
    /// Slot masks are uint256; the auction word's winner field has WINNER_BITS bits.
    uint256 public constant MAX_SLOTS = 256;
    /// The liquidated and granted masks travel in the exit data after the leaves and the
    /// house's collateral, each as ceil(nSlots / MASK_WORD_BITS) words, low slots first.
    uint256 public constant MASK_WORD_BITS = 128;
    /// The exit-data challenge rho: the top RHO_BITS bits of a keccak256.
    uint256 public constant RHO_BITS = 100;
    /// epochInfo = epoch | nEvents << EPOCH_BITS | totalCollateral << (EPOCH_BITS + N_EVENTS_BITS).
    uint256 public constant EPOCH_BITS = 64;
    uint256 public constant N_EVENTS_BITS = 16;
    uint256 public constant TOTAL_BITS = 128;
    /// The default fund (docs/protocol.md, "Default fund"): dfFloor and skinCap below
    /// 2^FUND_BITS; dfShareBp, stressBp and dfScale below 2^SCALE_BITS; the waterfall's
    /// packed words hold two amounts of LAYER_BITS each.
    uint256 public constant FUND_BITS = 112;
    uint256 public constant SCALE_BITS = 16;
    uint256 public constant LAYER_BITS = 126;
    /// Slot 0 is the house (insurance fund): it never commits or withdraws.
    uint256 public constant HOUSE = 0;

    /// Event kinds folded into the epoch's accumulator:
    /// acc' = Poseidon(acc, kind, slot, value).
    uint256 public constant KIND_COMMIT = 1;
    uint256 public constant KIND_DEPOSIT = 2;
    uint256 public constant KIND_WITHDRAW = 3;
    uint256 public constant KIND_REGISTER = 4;

    /// Instrument kinds of the instrument table (clearing/instruments.py `Kind`), and the
    /// largest table (one bit per instrument in a uint256 mask).
    uint8 public constant INSTRUMENT_FUTURE = 0;
    uint8 public constant INSTRUMENT_PERPETUAL = 1;
    uint8 public constant INSTRUMENT_DATED = 2;
    uint8 public constant INSTRUMENT_OPTION = 3;
    uint256 public constant MAX_INSTRUMENTS = 256;

    /// The epoch circuit's public signals, in order (clearing/public.py): the small values
    /// are packed, epochInfo (epoch, nEvents, totalCollateral); exitSum binds the epoch's
    /// exit data (submitEpoch calldata: the new leaves, the house's collateral and the
    /// slot masks) to the proof.
    uint256 public constant PUB_OLD_ROOT = 0;
    uint256 public constant PUB_NEW_ROOT = 1;
    uint256 public constant PUB_EPOCH_INFO = 2;
    uint256 public constant PUB_PARAMS_HASH = 3;
    uint256 public constant PUB_PRICES_PREV_HASH = 4;
    uint256 public constant PUB_PRICES_HASH = 5;
    uint256 public constant PUB_EVENTS_ACC = 6;
    uint256 public constant PUB_EXIT_SUM = 7;
    /// fundInfo = dfScale | dfScaleNext << SCALE_BITS | cover2Met << 2 SCALE_BITS |
    /// rho << (2 SCALE_BITS + 1), rho the exit-data challenge;
    /// layersA = fundOwn | fundHouse << LAYER_BITS; layersB = fundShared | fundHaircut <<
    /// LAYER_BITS; fundTotals = fundBase | fundGains << LAYER_BITS.
    uint256 public constant PUB_FUND_INFO = 8;
    uint256 public constant PUB_LAYERS_A = 9;
    uint256 public constant PUB_LAYERS_B = 10;
    uint256 public constant PUB_FUND_TOTALS = 11;
    /// auction = a | neg << 1 | w << 2 | |b| << 10 | houseFlat << FLAT_SHIFT | lotMM <<
    /// LOT_MM_SHIFT (clearing/auction.py): the low AWARD_BITS bits are the award the
    /// contract recorded at close, the rest the proof's (docs/protocol.md, "The auction").
    uint256 public constant PUB_AUCTION = 12;
    uint256 public constant N_PUBLIC = EPOCH_PUBLIC_INPUTS;
    uint256 public constant BID_BITS = FUND_BITS;
    uint256 public constant WINNER_BITS = 8;
    uint256 public constant AWARD_BITS = 2 + WINNER_BITS + BID_BITS;
    uint256 public constant FLAT_SHIFT = AWARD_BITS;
    uint256 public constant LOT_MM_SHIFT = FLAT_SHIFT + 1;

    /// Widest circomlib Poseidon: 6 inputs (t = 7); longer vectors use PoseidonChain.
    uint256 public constant POSEIDON_MAX_INPUTS = 6;
}
