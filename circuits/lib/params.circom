pragma circom 2.1.0;

include "hash.circom";
include "range.circom";
include "compare.circom";

// The values the contract binds by hash (docs/protocol.md, "State"): the governed risk
// parameters and the settlement prices. Their bounds are checked here, where they enter
// the circuit, because the margin and mark-to-market products rely on them.

// paramsHash = PoseidonChain(imFactorBp, penaltyBp, posLimit[0..M-1], S[0][..], ..., S[K-1][..]).
template RiskParams(M, K, DELTA_BITS, SHOCK_BITS, IM_FACTOR_BITS, PENALTY_BITS, BP) {
    assert(BP < (1 << PENALTY_BITS) && BP < (1 << IM_FACTOR_BITS));
    signal input imFactorBp;
    signal input penaltyBp;
    signal input posLimit[M];
    signal input shock[K][M];
    signal output hash;

    // BP <= imFactorBp < 2^IM_FACTOR_BITS: IM >= MM, so a liquidated slot is never
    // granted a withdrawal, and MM * factor stays within the bound margin.circom uses.
    Unsigned(IM_FACTOR_BITS)(imFactorBp);
    Unsigned(IM_FACTOR_BITS)(imFactorBp - BP);
    // 0 <= penaltyBp <= BP: the penalty is at most MM.
    Unsigned(PENALTY_BITS)(penaltyBp);
    Unsigned(PENALTY_BITS)(BP - penaltyBp);
    // 1 <= posLimit < 2^DELTA_BITS: a limit check then also bounds the position.
    for (var m = 0; m < M; m++) {
        Unsigned(DELTA_BITS)(posLimit[m]);
        Unsigned(DELTA_BITS)(posLimit[m] - 1);
    }
    // Signed shocks in basis points; they multiply notionals in the margin.
    for (var k = 0; k < K; k++) {
        SignedRangeArray(M, SHOCK_BITS)(shock[k]);
    }

    signal v[2 + M + K * M];
    v[0] <== imFactorBp;
    v[1] <== penaltyBp;
    for (var m = 0; m < M; m++) {
        v[2 + m] <== posLimit[m];
    }
    for (var k = 0; k < K; k++) {
        for (var m = 0; m < M; m++) {
            v[2 + M + k * M + m] <== shock[k][m];
        }
    }
    hash <== PoseidonChain(2 + M + K * M)(v);
}

// pricesHash = PoseidonChain(P[0..M-1]), prices in ticks with 1 <= P < 2^PRICE_BITS.
template Prices(M, PRICE_BITS) {
    signal input price[M];
    signal output hash;
    for (var m = 0; m < M; m++) {
        Unsigned(PRICE_BITS)(price[m]);
        Unsigned(PRICE_BITS)(price[m] - 1);
    }
    hash <== PoseidonChain(M)(price);
}
