pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "cipher.circom";
include "range.circom";
include "compare.circom";
include "divide.circom";
include "margin.circom";

// The per-slot steps of the epoch transition (docs/protocol.md, "Transition, per slot i").

// Step 1: the report a slot clears is the one its published ciphertext decrypts to
// (verifiable encryption, docs/protocol.md "Report cipher"); no commitment (C = 0) means
// no trades. With a commitment, the view key is the one committed in the slot's leaf
// after this epoch's registration (Poseidon(K) = vkh'), the epoch key is Poseidon(K, e),
// and C commits to the ciphertext of exactly (delta, tradeCash, salt) under it, tag
// included. So whoever holds K or K_e decrypts exactly the report that was cleared.
template OpenReport(M, DELTA_BITS, CASH_BITS) {
    signal input commit;
    signal input vkh;
    signal input epoch;
    signal input viewKey;
    signal input delta[M];
    signal input tradeCash;
    signal input salt;

    // The report's range checks (the engine refuses anything outside them).
    SignedRangeArray(M, DELTA_BITS)(delta);
    SignedRange(CASH_BITS)(tradeCash);

    signal none <== IsZero()(commit);
    // Without a commitment the operator cannot put trades on the slot.
    for (var m = 0; m < M; m++) {
        none * delta[m] === 0;
    }
    none * tradeCash === 0;

    // With one: the committed view key, its epoch key, and the ciphertext's commitment.
    signal keyHash <== Poseidon(1)([viewKey]);
    (1 - none) * (keyHash - vkh) === 0;
    signal epochKey <== Poseidon(2)([viewKey, epoch]);
    signal pt[M + 2];
    for (var m = 0; m < M; m++) {
        pt[m] <== delta[m];
    }
    pt[M] <== tradeCash;
    pt[M + 1] <== salt;
    component cipher = ReportCipher(M + 2);
    cipher.key <== epochKey;
    cipher.pt <== pt;
    (1 - none) * (cipher.commitment - commit) === 0;
}

// Step 3: mark to market on the old positions, new positions, pre-liquidation cash:
//   vm = sum_m q[m] * dp[m],  qn = q + delta,  cpre = c + vm + tradeCash + deposit.
// Inputs checked elsewhere: |dp| < 2^PRICE_BITS (prices), delta and tradeCash
// (OpenReport), 0 <= deposit < 2^CASH_BITS (events). qn is left to the caller: a member's
// position limit bounds it (MemberStep); the house never trades, so its qn is q.
template MarkToMarket(M, DELTA_BITS, CASH_BITS) {
    signal input c;
    signal input q[M];
    signal input dp[M];
    signal input delta[M];
    signal input tradeCash;
    signal input deposit;
    signal output qn[M];
    signal output cpre;
    signal output cpreNeg; // cpre < 0

    // The old leaf. The previous epoch's proof left it in range; checking again keeps
    // this proof self-contained (and genesis is not proven) and bounds the products.
    SignedRange(CASH_BITS)(c);
    SignedRangeArray(M, DELTA_BITS)(q);
    signal vmTerm[M];
    var vm = 0;
    for (var m = 0; m < M; m++) {
        vmTerm[m] <== q[m] * dp[m];
        vm += vmTerm[m];
        qn[m] <== q[m] + delta[m];
    }
    cpre <== c + vm + tradeCash + deposit;
    // cpre is a cash amount (within CASH bounds); the same bits give its sign.
    cpreNeg <== SignBit(CASH_BITS)(cpre);
}

// Steps 4-8 for a member slot (i >= 1): margin, liquidation, withdrawal, penalty and
// the slot's new values; toHouse / toHouseQ are what the house account takes over.
template MemberStep(M, K, DELTA_BITS, CASH_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS,
                    IM_FACTOR_BITS, PENALTY_BITS, BP) {
    var MM_BITS = mmBits(LOSS_BITS, BP);
    var IM_BITS = imBits(LOSS_BITS, IM_FACTOR_BITS, BP);
    var PEN_BITS = ceilDivBits(MM_BITS + PENALTY_BITS, BP);
    assert(MM_BITS <= IM_BITS && IM_BITS < CASH_BITS && PEN_BITS < CASH_BITS);
    signal input cpre; // -2^CASH_BITS <= cpre < 2^CASH_BITS (MarkToMarket)
    signal input cpreNeg;
    signal input qn[M];
    signal input price[M];
    signal input shock[K][M];
    signal input posLimit[M];
    signal input imFactorBp;
    signal input penaltyBp;
    signal input withdraw; // 0 or a requested amount in [1, 2^CASH_BITS)
    signal output liq;
    signal output granted;
    signal output paid; // granted * withdraw
    signal output cNew;
    signal output qNew[M];
    signal output toHouse; // liq * (penalty + min(cpre, 0))
    signal output toHouseQ[M]; // liq * qn

    // Position limits |qn| <= posLimit < 2^DELTA_BITS. Both differences lie in
    // [0, 2^(DELTA_BITS+1)) only if qn does: this is also qn's range check.
    for (var m = 0; m < M; m++) {
        Unsigned(DELTA_BITS + 1)(posLimit[m] - qn[m]);
        Unsigned(DELTA_BITS + 1)(posLimit[m] + qn[m]);
    }
    component margin = PortfolioMargin(M, K, DELTA_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS,
                                       IM_FACTOR_BITS, BP);
    margin.q <== qn;
    margin.price <== price;
    margin.shock <== shock;
    margin.imFactorBp <== imFactorBp;

    // Step 5. Liquidated iff equity < MM: the bit *is* the comparison, so both directions
    // hold (no solvent member liquidated, no insolvent one kept).
    // cpre - MM lies in [-2^CASH - 2^MM_BITS, 2^CASH).
    liq <== SignedLessThan(CASH_BITS + 1)(cpre, margin.mm);

    // Step 6. Granted iff requested and cpre - w >= IM; a refused request changes nothing.
    // cpre - w - IM lies in [-2^(CASH+1) - 2^IM_BITS, 2^CASH). A liquidated slot has
    // cpre < MM <= IM, so it is never granted.
    signal wZero <== IsZero()(withdraw);
    signal short <== SignedLessThan(CASH_BITS + 2)(cpre - withdraw, margin.im);
    granted <== (1 - wZero) * (1 - short);
    paid <== granted * withdraw;

    // Step 7. Penalty = min(ceil(MM * penaltyBp / BP), max(cpre, 0)): never more than the
    // remaining equity, so the defaulter ends with max(cpre, 0) - penalty >= 0.
    signal pos <== cpre * (1 - cpreNeg);
    signal penRaw <== CeilDivConst(MM_BITS + PENALTY_BITS, BP)(margin.mm * penaltyBp);
    // penRaw - pos lies in (-2^CASH, 2^PEN_BITS).
    signal pen <== SignedMin(CASH_BITS)(penRaw, pos);

    // Step 8. The house takes penalty and shortfall (min(cpre, 0) = cpre - pos) and the
    // positions; what it takes is exactly what the slot gives up, so cash and positions
    // are conserved by construction: liquidated, cNew = pos - pen and the slot is flat;
    // otherwise cNew = cpre - paid and qNew = qn.
    toHouse <== liq * (pen + cpre - pos);
    cNew <== cpre - paid - toHouse;
    for (var m = 0; m < M; m++) {
        toHouseQ[m] <== liq * qn[m];
        qNew[m] <== qn[m] - toHouseQ[m];
    }
}
