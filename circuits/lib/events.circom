pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/multiplexer.circom";

// The epoch's on-chain events (docs/protocol.md, "Events"): the accumulator the contract
// keeps, and the per-slot values it binds. Kinds: 1 COMMIT, 2 DEPOSIT, 3 WITHDRAW,
// 4 REGISTER. Event slots j >= nEvents are all-zero and not hashed.

// acc_0 = 0, acc_{j+1} = Poseidon(acc_j, kind_j, slot_j, value_j) for j < nEvents.
template EventAccumulator(E) {
    signal input kind[E];
    signal input slot[E];
    signal input value[E];
    signal input nEvents;
    signal output acc;
    signal output active[E];

    // nEvents <= E, so the prefix mask below is exactly the first nEvents slots.
    var NB = 1;
    while ((1 << NB) <= E + 1) { NB++; }
    component nBits = Num2Bits(NB);
    nBits.in <== nEvents;
    signal inRange <== LessThan(NB)([nEvents, E + 1]);
    inRange === 1;

    signal a[E + 1];
    signal h[E];
    a[0] <== 0;
    for (var j = 0; j < E; j++) {
        active[j] <== LessThan(NB)([j, nEvents]);
        // An inactive event is all-zero: nothing can hide behind the count.
        (1 - active[j]) * kind[j] === 0;
        (1 - active[j]) * slot[j] === 0;
        (1 - active[j]) * value[j] === 0;
        h[j] <== Poseidon(4)([a[j], kind[j], slot[j], value[j]]);
        a[j + 1] <== a[j] + active[j] * (h[j] - a[j]);
    }
    acc <== a[E];
}

// Per-slot sums of the events: commitment, deposits, withdrawal, registration.
// At most one COMMIT, WITHDRAW and REGISTER per slot (the contract enforces it too).
template EventsPerSlot(N, E, CASH_BITS) {
    signal input kind[E];
    signal input slot[E];
    signal input value[E];
    signal input active[E];
    signal output commit[N];
    signal output deposit[N];
    signal output withdraw[N];
    signal output reg[N];
    signal output vkhNew[N];

    signal isC[E];
    signal isD[E];
    signal isW[E];
    signal isR[E];
    signal cVal[E];
    signal dVal[E];
    signal wVal[E];
    signal rVal[E];
    signal amount[E];
    signal valueZero[E];
    component dec[E];
    component amountBits[E];
    for (var j = 0; j < E; j++) {
        isC[j] <== IsEqual()([kind[j], 1]);
        isD[j] <== IsEqual()([kind[j], 2]);
        isW[j] <== IsEqual()([kind[j], 3]);
        isR[j] <== IsEqual()([kind[j], 4]);
        // An active event has one of the four kinds.
        active[j] * (1 - isC[j] - isD[j] - isW[j] - isR[j]) === 0;
        // slot < N (the decoder finds exactly one match).
        dec[j] = Decoder(N);
        dec[j].inp <== slot[j];
        dec[j].success === 1;
        // Commitments are nonzero; amounts are in [1, 2^CASH_BITS).
        valueZero[j] <== IsZero()(value[j]);
        isC[j] * valueZero[j] === 0;
        (isD[j] + isW[j]) * valueZero[j] === 0;
        amount[j] <== (isD[j] + isW[j]) * value[j];
        amountBits[j] = Num2Bits(CASH_BITS);
        amountBits[j].in <== amount[j];
        cVal[j] <== isC[j] * value[j];
        dVal[j] <== isD[j] * value[j];
        wVal[j] <== isW[j] * value[j];
        rVal[j] <== isR[j] * value[j];
    }

    signal pc[N][E];
    signal pw[N][E];
    signal pr[N][E];
    signal sc[N][E];
    signal sd[N][E];
    signal sw[N][E];
    signal sr[N][E];
    for (var i = 0; i < N; i++) {
        var nC = 0;
        var nW = 0;
        var nR = 0;
        var sumC = 0;
        var sumD = 0;
        var sumW = 0;
        var sumR = 0;
        for (var j = 0; j < E; j++) {
            pc[i][j] <== dec[j].out[i] * isC[j];
            pw[i][j] <== dec[j].out[i] * isW[j];
            pr[i][j] <== dec[j].out[i] * isR[j];
            sc[i][j] <== dec[j].out[i] * cVal[j];
            sd[i][j] <== dec[j].out[i] * dVal[j];
            sw[i][j] <== dec[j].out[i] * wVal[j];
            sr[i][j] <== dec[j].out[i] * rVal[j];
            nC += pc[i][j];
            nW += pw[i][j];
            nR += pr[i][j];
            sumC += sc[i][j];
            sumD += sd[i][j];
            sumW += sw[i][j];
            sumR += sr[i][j];
        }
        // Counts are at most E, far below r: count * (count - 1) = 0 means 0 or 1.
        nC * (nC - 1) === 0;
        nW * (nW - 1) === 0;
        nR * (nR - 1) === 0;
        commit[i] <== sumC;
        deposit[i] <== sumD;
        withdraw[i] <== sumW;
        reg[i] <== nR;
        vkhNew[i] <== sumR;
    }
    // The house never reports nor withdraws.
    commit[0] === 0;
    withdraw[0] === 0;
}
