pragma circom 2.1.0;

include "compare.circom";
include "divide.circom";

// SPAN-like portfolio margin of one slot (docs/protocol.md, "Transition", step 4):
//   loss_k = -sum_m q[m] * P[m] * S[k][m],  L = max(0, max_k loss_k),
//   MM = ceil(L / BP),  IM = ceil(MM * imFactorBp / BP).
// The worst scenario over all instruments at once: offsetting positions reduce margin.

// Bits of MM and IM for the given bounds (so callers can size their comparisons).
function mmBits(LOSS_BITS, BP) {
    var bits = ceilDivBits(LOSS_BITS, BP);
    return bits;
}

function imBits(LOSS_BITS, IM_FACTOR_BITS, BP) {
    var mm = ceilDivBits(LOSS_BITS, BP);
    var bits = ceilDivBits(mm + IM_FACTOR_BITS, BP);
    return bits;
}

// Inputs (range-checked by the caller): |q| <= 2^DELTA_BITS, 0 < P < 2^PRICE_BITS,
// |S| <= 2^SHOCK_BITS, 0 <= imFactorBp < 2^IM_FACTOR_BITS, M <= 256. Each term is then
// below 2^(DELTA+PRICE+SHOCK) in magnitude and a loss, a sum of M of them, below
// 2^(DELTA+PRICE+SHOCK+8) <= 2^(LOSS_BITS-1): the loss is range-bounded by its
// range-checked factors, so the comparisons below need no separate check of it (their
// own Num2Bits would refuse anything outside LOSS_BITS anyway; see compare.circom).
template PortfolioMargin(M, K, DELTA_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS, IM_FACTOR_BITS,
                         BP) {
    assert(M >= 1 && M <= 256 && K >= 1);
    assert(DELTA_BITS + PRICE_BITS + SHOCK_BITS + 8 <= LOSS_BITS - 1);
    signal input q[M];
    signal input price[M];
    signal input shock[K][M];
    signal input imFactorBp;
    signal output mm;
    signal output im;

    // Notional per instrument, shared by all scenarios.
    signal notional[M];
    for (var m = 0; m < M; m++) {
        notional[m] <== q[m] * price[m];
    }
    signal term[K][M];
    signal loss[K];
    signal worst[K + 1];
    // Starting from 0 makes L = max(0, ...): a portfolio that gains in every scenario
    // needs no margin, and L >= 0 for the division below.
    worst[0] <== 0;
    for (var k = 0; k < K; k++) {
        var s = 0;
        for (var m = 0; m < M; m++) {
            term[k][m] <== notional[m] * shock[k][m];
            s += term[k][m];
        }
        loss[k] <== -s;
        // worst in [0, 2^(LOSS-1)), |loss| < 2^(LOSS-1): the difference fits LOSS_BITS.
        worst[k + 1] <== SignedMax(LOSS_BITS)(worst[k], loss[k]);
    }
    // 0 <= L < 2^LOSS_BITS.
    mm <== CeilDivConst(LOSS_BITS, BP)(worst[K]);
    // MM < 2^mmBits and imFactorBp < 2^IM_FACTOR_BITS bound the product.
    im <== CeilDivConst(mmBits(LOSS_BITS, BP) + IM_FACTOR_BITS, BP)(mm * imFactorBp);
}
