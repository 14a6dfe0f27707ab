pragma circom 2.1.0;

include "compare.circom";
include "divide.circom";

// SPAN-like portfolio margin of one slot (docs/protocol.md, "Transition", step 4):
//   loss_k = sum_m q[m] * r[k][m],  L = max(0, max_k loss_k),
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

// Inputs (range-checked by the caller): |q| <= 2^DELTA_BITS, |r| <= 2^RISK_BITS (a risk
// array entry: -P*S for a future, the published array for an option; docs/protocol.md,
// "Instruments"), 0 <= imFactorBp < 2^IM_FACTOR_BITS, M <= 256. Each term is then at most
// 2^(DELTA+RISK) in magnitude and a loss, a sum of M of them, below
// 2^(DELTA+RISK+8) <= 2^(LOSS_BITS-1): the loss is range-bounded by its range-checked
// factors, so the comparisons below need no separate check of it (their own Num2Bits
// would refuse anything outside LOSS_BITS anyway; see compare.circom).
template PortfolioMargin(M, K, DELTA_BITS, RISK_BITS, LOSS_BITS, IM_FACTOR_BITS, BP) {
    assert(M >= 1 && M <= 256 && K >= 1);
    assert(DELTA_BITS + RISK_BITS + 8 <= LOSS_BITS - 1);
    signal input q[M];
    signal input risk[K][M];
    signal input imFactorBp;
    signal output mm;
    signal output im;

    signal term[K][M];
    signal loss[K];
    signal worst[K + 1];
    // Starting from 0 makes L = max(0, ...): a portfolio that gains in every scenario
    // needs no margin, and L >= 0 for the division below.
    worst[0] <== 0;
    for (var k = 0; k < K; k++) {
        var s = 0;
        for (var m = 0; m < M; m++) {
            term[k][m] <== q[m] * risk[k][m];
            s += term[k][m];
        }
        loss[k] <== s;
        // worst in [0, 2^(LOSS-1)), |loss| < 2^(LOSS-1): the difference fits LOSS_BITS.
        worst[k + 1] <== SignedMax(LOSS_BITS)(worst[k], loss[k]);
    }
    // 0 <= L < 2^LOSS_BITS.
    mm <== CeilDivConst(LOSS_BITS, BP)(worst[K]);
    // MM < 2^mmBits and imFactorBp < 2^IM_FACTOR_BITS bound the product.
    im <== CeilDivConst(mmBits(LOSS_BITS, BP) + IM_FACTOR_BITS, BP)(mm * imFactorBp);
}
