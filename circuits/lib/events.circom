pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/multiplexer.circom";
include "compare.circom";

// The epoch's on-chain events (docs/protocol.md, "Events"): the accumulator the contract
// keeps, and the per-slot values it binds. Kinds: 1 COMMIT, 2 DEPOSIT, 3 WITHDRAW,
// 4 REGISTER. Event slots j >= nEvents are all-zero and not hashed.

// active[j] = (j < n) for j < E, and n <= E. The bits are a hint pinned down as a prefix
// mask: boolean, never a 1 after a 0, n of them set. No count above E has a witness.
template PrefixMask(E) {
    signal input n;
    signal output active[E];
    var count = 0;
    for (var j = 0; j < E; j++) {
        active[j] <-- j < n ? 1 : 0;
        active[j] * (1 - active[j]) === 0;
        if (j > 0) {
            active[j] * (1 - active[j - 1]) === 0;
        }
        count += active[j];
    }
    count === n;
}

// acc_0 = 0, acc_{j+1} = Poseidon(acc_j, kind_j, slot_j, value_j) for j < nEvents.
template EventAccumulator(E) {
    signal input kind[E];
    signal input slot[E];
    signal input value[E];
    signal input nEvents;
    signal output acc;
    signal output active[E];

    // Exactly the first nEvents events are hashed.
    active <== PrefixMask(E)(nEvents);

    signal a[E + 1];
    signal h[E];
    a[0] <== 0;
    for (var j = 0; j < E; j++) {
        // An inactive event is all-zero, so nothing can hide behind the count.
        (1 - active[j]) * kind[j] === 0;
        (1 - active[j]) * slot[j] === 0;
        (1 - active[j]) * value[j] === 0;
        h[j] <== Poseidon(4)([a[j], kind[j], slot[j], value[j]]);
        // Inactive events leave the accumulator as it is.
        a[j + 1] <== a[j] + active[j] * (h[j] - a[j]);
    }
    acc <== a[E];
}

// Per-slot values of the events: commitment C, deposits d (summed), withdrawal request
// w, registration reg and its vkh. At most one COMMIT, WITHDRAW and REGISTER per slot;
// the house (slot 0) never commits nor withdraws (the contract enforces the same).
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

    // One-hot kind: isKind[j][t] = (kind_j == t); Decoder's success = 1 means kind < 5
    // and exactly the matching output is 1 (the others are forced to 0).
    component isKind[E];
    // One-hot slot: isSlot[j].out[i] = (slot_j == i) and slot_j < N.
    component isSlot[E];
    signal valueZero[E];
    signal amount[E];
    signal cVal[E];
    signal dVal[E];
    signal wVal[E];
    signal rVal[E];
    for (var j = 0; j < E; j++) {
        isKind[j] = Decoder(5);
        isKind[j].inp <== kind[j];
        isKind[j].success === 1;
        // Kind 0 exactly for inactive events: active events are one of the four kinds.
        isKind[j].out[0] === 1 - active[j];
        isSlot[j] = Decoder(N);
        isSlot[j].inp <== slot[j];
        isSlot[j].success === 1;
        // A commitment is nonzero (0 means "no report"); amounts are in [1, 2^CASH_BITS),
        // so a deposit cannot be negative nor a withdrawal wrap r.
        valueZero[j] <== IsZero()(value[j]);
        isKind[j].out[1] * valueZero[j] === 0;
        (isKind[j].out[2] + isKind[j].out[3]) * valueZero[j] === 0;
        amount[j] <== (isKind[j].out[2] + isKind[j].out[3]) * value[j];
        Unsigned(CASH_BITS)(amount[j]);
        cVal[j] <== isKind[j].out[1] * value[j];
        dVal[j] <== isKind[j].out[2] * value[j];
        wVal[j] <== isKind[j].out[3] * value[j];
        rVal[j] <== isKind[j].out[4] * value[j];
    }

    signal nC[N][E];
    signal nW[N][E];
    signal nR[N][E];
    signal sC[N][E];
    signal sD[N][E];
    signal sW[N][E];
    signal sR[N][E];
    for (var i = 0; i < N; i++) {
        var countC = 0;
        var countW = 0;
        var countR = 0;
        var sumC = 0;
        var sumD = 0;
        var sumW = 0;
        var sumR = 0;
        for (var j = 0; j < E; j++) {
            nC[i][j] <== isSlot[j].out[i] * isKind[j].out[1];
            nW[i][j] <== isSlot[j].out[i] * isKind[j].out[3];
            nR[i][j] <== isSlot[j].out[i] * isKind[j].out[4];
            sC[i][j] <== isSlot[j].out[i] * cVal[j];
            sD[i][j] <== isSlot[j].out[i] * dVal[j];
            sW[i][j] <== isSlot[j].out[i] * wVal[j];
            sR[i][j] <== isSlot[j].out[i] * rVal[j];
            countC += nC[i][j];
            countW += nW[i][j];
            countR += nR[i][j];
            sumC += sC[i][j];
            sumD += sD[i][j];
            sumW += sW[i][j];
            sumR += sR[i][j];
        }
        // Counts are at most E, far below r: count * (count - 1) = 0 means 0 or 1.
        // With one event at most, the sums are that event's value (or 0).
        countC * (countC - 1) === 0;
        countW * (countW - 1) === 0;
        countR * (countR - 1) === 0;
        commit[i] <== sumC;
        withdraw[i] <== sumW;
        reg[i] <== countR;
        vkhNew[i] <== sumR;
        // Deposits add up; their sum is a cash amount too (docs/protocol.md, Bounds).
        deposit[i] <== sumD;
        Unsigned(CASH_BITS)(deposit[i]);
    }
    // The house never reports nor withdraws (commitments and amounts are nonzero).
    commit[0] === 0;
    withdraw[0] === 0;
}
