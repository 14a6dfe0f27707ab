pragma circom 2.1.0;

include "compare.circom";
include "divide.circom";

// SPAN-like portfolio margin of one slot (docs/protocol.md, step 4):
//   loss_k = -sum_m q[m] * P[m] * S[k][m],  L = max(0, max_k loss_k),
//   MM = ceil(L / 10000),  IM = ceil(MM * imFactorBp / 10000).
// Bounds (checked by the caller): |q| < 2^DELTA_BITS, 1 <= P < 2^PRICE_BITS,
// |S| < 2^SHOCK_BITS, M <= 256, so |loss_k| < 2^(DELTA+PRICE+SHOCK+8) <= 2^LOSS_BITS:
// the comparisons below get inputs inside their range by construction.
template PortfolioMargin(M, K, DELTA_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS) {
    assert(DELTA_BITS + PRICE_BITS + SHOCK_BITS + 8 <= LOSS_BITS);
    assert(M <= 256);
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
    worst[0] <== 0;
    for (var k = 0; k < K; k++) {
        var s = 0;
        for (var m = 0; m < M; m++) {
            term[k][m] <== notional[m] * shock[k][m];
            s += term[k][m];
        }
        loss[k] <== -s;
        worst[k + 1] <== SignedMax(LOSS_BITS)(worst[k], loss[k]);
    }
    // worst[K] >= 0 (it started at 0) and < 2^LOSS_BITS.
    mm <== CeilDivConst(LOSS_BITS, 10000)(worst[K]);
    // MM < 2^(LOSS_BITS - 13); the factor < 2^16.
    im <== CeilDivConst(LOSS_BITS + 3, 10000)(mm * imFactorBp);
}
