pragma circom 2.1.0;

include "../../circuits/lib/hash.circom";
include "../../circuits/lib/range.circom";

// Benchmark circuit for bench/bench_prove.py and tests/prover/test_heavy_pipeline.py, made of
// zkclear's own templates: K report-like steps, each range-checking a signed position
// change (SignedRange(DELTA_BITS)) and a signed cash amount (SignedRange(CASH_BITS)), as
// report.circom does, and folding both into a running hash:
//     acc[0] = seed,  acc[k + 1] = PoseidonChain(3)(acc[k], delta[k], cash[k]).
// PAD multiplication constraints (seed^2, seed^3, ...) then fill the constraint count to
// an exact target. Public signals: out (= acc[K] + seed^(PAD+1)) and seed.
template ProveBench(K, DELTA_BITS, CASH_BITS, PAD) {
    assert(K >= 1 && PAD >= 0);
    signal input seed;
    signal input delta[K];
    signal input cash[K];
    signal output out;

    component deltaRange[K];
    component cashRange[K];
    component h[K];
    signal acc[K + 1];
    acc[0] <== seed;
    for (var k = 0; k < K; k++) {
        deltaRange[k] = SignedRange(DELTA_BITS);
        deltaRange[k].in <== delta[k];
        cashRange[k] = SignedRange(CASH_BITS);
        cashRange[k].in <== cash[k];
        h[k] = PoseidonChain(3);
        h[k].in[0] <== acc[k];
        h[k].in[1] <== delta[k];
        h[k].in[2] <== cash[k];
        acc[k + 1] <== h[k].out;
    }

    signal pad[PAD + 1];
    pad[0] <== seed;
    for (var i = 0; i < PAD; i++) {
        pad[i + 1] <== pad[i] * seed;
    }
    out <== acc[K] + pad[PAD];
}
