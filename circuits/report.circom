pragma circom 2.1.0;

include "lib/hash.circom";
include "lib/range.circom";

// A member's epoch report opens to its public commitment (PROTOCOL.md, step 1).
//
// report = (delta[M], tradeCash, salt): per-instrument position changes in lots,
// the cash the trades move in minor units, and a random salt that hides the report.
// commitment = PoseidonChain(delta[0..M-1], tradeCash, salt); both signed fields are
// range-checked so a report the engine would refuse can never be proven.
template ReportCommitment(M, DELTA_BITS, CASH_BITS) {
    signal input delta[M];
    signal input tradeCash;
    signal input salt;
    signal output commitment;

    component deltaRange = SignedRangeArray(M, DELTA_BITS);
    deltaRange.in <== delta;
    component cashRange = SignedRange(CASH_BITS);
    cashRange.in <== tradeCash;

    component h = PoseidonChain(M + 2);
    for (var m = 0; m < M; m++) {
        h.in[m] <== delta[m];
    }
    h.in[M] <== tradeCash;
    h.in[M + 1] <== salt;
    commitment <== h.out;
}
