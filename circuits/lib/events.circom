pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/comparators.circom";
include "hash.circom";
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

// Per-slot values of the events: commitment C, deposit d, withdrawal request w,
// registration reg and its vkh, from a canonical layout the prover supplies:
// lay[i][k - 1] is slot i's event of kind k (its value), 0 if it has none. The contract
// allows at most one event of each kind per slot and epoch (AlreadyCommitted,
// AlreadyDeposited, AlreadyRequested, AlreadyRegistered) and only nonzero values, so the
// epoch's active events are exactly the layout's nonzero entries. That is checked as a
// multiset equality of (kind, slot, value) by a grand product at random points: the
// layout is hashed with eventsAcc (which binds the chain's events) into alpha and beta
// (Fiat-Shamir), each tuple is encoded as beta - (kind + alpha * slot + alpha^2 * value),
// and the two products must agree. Distinct tuples are distinct polynomials in alpha, so a
// layout that is not the events' passes with probability about 2 (E + 4N) / r.
// Linear in N (~500 constraints per slot with the amounts' range checks), where routing
// every event to every slot costs ~32 N^2. An active event of kind 0 or above 4, of a slot
// >= N, a second event of a kind for one slot, or a zero commitment, amount or vkh has no
// witness. The house (slot 0) never commits nor withdraws (the contract enforces the same).
template EventsByLayout(N, E, CASH_BITS) {
    signal input kind[E];
    signal input slot[E];
    signal input value[E];
    signal input active[E];
    signal input eventsAcc;
    signal input lay[N][4];
    signal output commit[N];
    signal output deposit[N];
    signal output withdraw[N];
    signal output reg[N];
    signal output vkhNew[N];

    // The amounts are cash amounts (docs/protocol.md, Bounds); the packing of the hashed
    // words below is injective because of these checks.
    signal words[3 * N];
    for (var i = 0; i < N; i++) {
        Unsigned(CASH_BITS)(lay[i][1]);
        Unsigned(CASH_BITS)(lay[i][2]);
        words[3 * i] <== lay[i][0];
        words[3 * i + 1] <== lay[i][1] + lay[i][2] * (1 << CASH_BITS);
        words[3 * i + 2] <== lay[i][3];
    }
    signal layHash <== PoseidonChain(3 * N)(words);
    signal alpha <== Poseidon(3)([eventsAcc, layHash, 1]);
    signal beta <== Poseidon(3)([eventsAcc, layHash, 2]);
    signal alpha2 <== alpha * alpha;

    // The chain's events (inactive ones are all-zero and count as 1).
    signal aS[E];
    signal a2V[E];
    signal t[E];
    signal prodE[E + 1];
    prodE[0] <== 1;
    for (var j = 0; j < E; j++) {
        aS[j] <== alpha * slot[j];
        a2V[j] <== alpha2 * value[j];
        t[j] <== 1 + active[j] * (beta - kind[j] - aS[j] - a2V[j] - 1);
        prodE[j + 1] <== prodE[j] * t[j];
    }

    // The layout's nonzero entries.
    signal absent[N][4];
    signal present[N][4];
    signal a2L[N][4];
    signal u[N][4];
    signal prodL[4 * N + 1];
    prodL[0] <== 1;
    for (var i = 0; i < N; i++) {
        for (var k = 0; k < 4; k++) {
            absent[i][k] <== IsZero()(lay[i][k]);
            present[i][k] <== 1 - absent[i][k];
            a2L[i][k] <== alpha2 * lay[i][k];
            u[i][k] <== 1 + present[i][k] * (beta - (k + 1) - alpha * i - a2L[i][k] - 1);
            prodL[4 * i + k + 1] <== prodL[4 * i + k] * u[i][k];
        }
        commit[i] <== lay[i][0];
        deposit[i] <== lay[i][1];
        withdraw[i] <== lay[i][2];
        reg[i] <== present[i][3];
        vkhNew[i] <== lay[i][3];
    }
    prodE[E] === prodL[4 * N];
    // The house never reports nor withdraws.
    commit[0] === 0;
    withdraw[0] === 0;
}
