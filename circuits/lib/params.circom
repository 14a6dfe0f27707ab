pragma circom 2.1.0;

include "hash.circom";
include "range.circom";
include "compare.circom";
include "circomlib/circuits/comparators.circom";

// The values the contract binds by hash (docs/protocol.md, "State"): the governed risk
// parameters and the settlement prices. Their bounds are checked here, where they enter
// the circuit, because the margin and mark-to-market products rely on them.

// paramsHash = PoseidonChain(imFactorBp, penaltyBp, dfFloor, dfShareBp, stressBp, skinCap,
//                            posLimit[0..M-1], S[0][..], ..., S[K-1][..],
//                            isPerp[0..M-1], isOption[0..M-1], expiry[0..M-1]).
// The last three blocks are the deployment's instrument table (docs/protocol.md,
// "Instruments"): isPerp and isOption are bits, never both; a perpetual has no expiry,
// an option has one; expiry < 2^EPOCH_BITS (0 = none).
template RiskParams(M, K, DELTA_BITS, SHOCK_BITS, IM_FACTOR_BITS, PENALTY_BITS, BP, EPOCH_BITS,
                   FUND_BITS, SCALE_BITS) {
    assert(BP < (1 << PENALTY_BITS) && BP < (1 << IM_FACTOR_BITS) && BP < (1 << SCALE_BITS));
    signal input imFactorBp;
    signal input penaltyBp;
    signal input dfFloor;
    signal input dfShareBp;
    signal input stressBp;
    signal input skinCap;
    signal input posLimit[M];
    signal input shock[K][M];
    signal input isPerp[M];
    signal input isOption[M];
    signal input expiry[M];
    signal output hash;

    // BP <= imFactorBp < 2^IM_FACTOR_BITS: IM >= MM, so a liquidated slot is never
    // granted a withdrawal, and MM * factor stays within the bound margin.circom uses.
    Unsigned(IM_FACTOR_BITS)(imFactorBp);
    Unsigned(IM_FACTOR_BITS)(imFactorBp - BP);
    // 0 <= penaltyBp <= BP: the penalty is at most MM.
    Unsigned(PENALTY_BITS)(penaltyBp);
    Unsigned(PENALTY_BITS)(BP - penaltyBp);
    // The default fund: dfFloor, skinCap < 2^FUND_BITS; dfShareBp < 2^SCALE_BITS;
    // BP <= stressBp < 2^SCALE_BITS (the stress is at least the margin scenarios).
    Unsigned(FUND_BITS)(dfFloor);
    Unsigned(FUND_BITS)(skinCap);
    Unsigned(SCALE_BITS)(dfShareBp);
    Unsigned(SCALE_BITS)(stressBp);
    Unsigned(SCALE_BITS)(stressBp - BP);
    // 1 <= posLimit < 2^DELTA_BITS: a limit check then also bounds the position.
    for (var m = 0; m < M; m++) {
        Unsigned(DELTA_BITS)(posLimit[m]);
        Unsigned(DELTA_BITS)(posLimit[m] - 1);
    }
    // Signed shocks in basis points; they multiply prices in the risk arrays.
    for (var k = 0; k < K; k++) {
        SignedRangeArray(M, SHOCK_BITS)(shock[k]);
    }
    // The instrument table.
    signal noExpiry[M];
    for (var m = 0; m < M; m++) {
        isPerp[m] * (1 - isPerp[m]) === 0;
        isOption[m] * (1 - isOption[m]) === 0;
        isPerp[m] * isOption[m] === 0;
        Unsigned(EPOCH_BITS)(expiry[m]);
        isPerp[m] * expiry[m] === 0;
        noExpiry[m] <== IsZero()(expiry[m]);
        isOption[m] * noExpiry[m] === 0;
    }

    var H = 6; // the scalars before posLimit
    signal v[H + M + K * M + 3 * M];
    v[0] <== imFactorBp;
    v[1] <== penaltyBp;
    v[2] <== dfFloor;
    v[3] <== dfShareBp;
    v[4] <== stressBp;
    v[5] <== skinCap;
    for (var m = 0; m < M; m++) {
        v[H + m] <== posLimit[m];
    }
    for (var k = 0; k < K; k++) {
        for (var m = 0; m < M; m++) {
            v[H + M + k * M + m] <== shock[k][m];
        }
    }
    var t = H + M + K * M;
    for (var m = 0; m < M; m++) {
        v[t + m] <== isPerp[m];
        v[t + M + m] <== isOption[m];
        v[t + 2 * M + m] <== expiry[m];
    }
    hash <== PoseidonChain(H + M + K * M + 3 * M)(v);
}

// markHash = PoseidonChain(P[0..M-1], F[0..M-1]): marks 1 <= P < 2^PRICE_BITS, except an
// option's premium, which may be 0; funding indices |F| <= 2^PRICE_BITS.
template MarkHash(M, PRICE_BITS) {
    signal input price[M];
    signal input fund[M];
    signal input isOption[M];
    signal output hash;
    signal v[2 * M];
    for (var m = 0; m < M; m++) {
        Unsigned(PRICE_BITS)(price[m]);
        Unsigned(PRICE_BITS)(price[m] - 1 + isOption[m]);
        SignedRange(PRICE_BITS)(fund[m]);
        v[m] <== price[m];
        v[M + m] <== fund[m];
    }
    hash <== PoseidonChain(2 * M)(v);
}

// riskHash = PoseidonChain(A[0][0..K-1], ..., A[M-1][0..K-1]) in an epoch with a live
// option (an option before its expiry epoch), 0 otherwise; every other instrument --
// futures, and options from their expiry on, whose positions settle and close -- has an
// all-zero row; a live option's entries are losses per long lot in 1/BP tick with
// |A| <= 2^ARRAY_BITS.
template RiskArrays(M, K, ARRAY_BITS) {
    signal input isOption[M]; // 1 for a live option (isOption * live), else 0
    signal input riskArray[M][K];
    signal output hash;
    signal v[M * K];
    for (var m = 0; m < M; m++) {
        for (var k = 0; k < K; k++) {
            (1 - isOption[m]) * riskArray[m][k] === 0;
            SignedRange(ARRAY_BITS)(riskArray[m][k]);
            v[m * K + k] <== riskArray[m][k];
        }
    }
    // none = prod (1 - isOption[m]): 1 iff the pool has no option.
    signal none[M + 1];
    none[0] <== 1;
    for (var m = 0; m < M; m++) {
        none[m + 1] <== none[m] * (1 - isOption[m]);
    }
    signal chain <== PoseidonChain(M * K)(v);
    hash <== (1 - none[M]) * chain;
}
