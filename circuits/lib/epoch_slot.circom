pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "cipher.circom";
include "range.circom";
include "compare.circom";
include "divide.circom";
include "margin.circom";

// The per-slot steps of the epoch transition (docs/protocol.md, "Transition, per slot i").

// Step 1, keys: the slot's view key K wherever one is used -- for a report (commit != 0)
// and for a blinded leaf (blind) -- is the one committed in the slot's leaf after this
// epoch's registration (Poseidon(K) = vkh'). K_e = Poseidon(K, e) is the epoch key; a
// blinded leaf's nonce is Poseidon(K_e, 0) (counter 0: the report keystream starts at 1),
// any other leaf's nonce is 0. So a member, or compliance with the escrowed K, can open
// its own new leaf without the operator (docs/protocol.md, "Freeze and escape").
// Only members' leaves are blinded.
template SlotKey() {
    signal input commit; // the slot's COMMIT value, 0 if none
    signal input blind;
    signal input status; // status' (a bit)
    signal input vkh; // vkh'
    signal input epoch;
    signal input viewKey;
    signal output hasReport;
    signal output epochKey;
    signal output nonce;

    signal none <== IsZero()(commit);
    hasReport <== 1 - none;
    blind * (1 - blind) === 0;
    blind * (1 - status) === 0;
    signal uses <== hasReport + blind - hasReport * blind;
    signal keyHash <== Poseidon(1)([viewKey]);
    uses * (keyHash - vkh) === 0;
    epochKey <== Poseidon(2)([viewKey, epoch]);
    signal leafKey <== Poseidon(2)([epochKey, 0]);
    nonce <== blind * leafKey;
}

// Step 1, report: the report a slot clears is the one its published ciphertext decrypts
// to (verifiable encryption, docs/protocol.md "Report cipher"); no commitment (C = 0)
// means no trades. With a commitment, C commits to the ciphertext of exactly
// (delta, tradeCash, salt) under the slot's epoch key (SlotKey), tag included. So whoever
// holds K or K_e decrypts exactly the report that was cleared.
template OpenReport(M, DELTA_BITS, CASH_BITS) {
    signal input commit;
    signal input hasReport; // commit != 0 (SlotKey)
    signal input epochKey;
    signal input delta[M];
    signal input tradeCash;
    signal input salt;

    // The report's range checks (the engine refuses anything outside them).
    SignedRangeArray(M, DELTA_BITS)(delta);
    SignedRange(CASH_BITS)(tradeCash);

    signal none <== 1 - hasReport;
    // Without a commitment the operator cannot put trades on the slot.
    for (var m = 0; m < M; m++) {
        none * delta[m] === 0;
    }
    none * tradeCash === 0;

    signal pt[M + 2];
    for (var m = 0; m < M; m++) {
        pt[m] <== delta[m];
    }
    pt[M] <== tradeCash;
    pt[M + 1] <== salt;
    component cipher = ReportCipher(M + 2);
    cipher.key <== epochKey;
    cipher.pt <== pt;
    hasReport * (cipher.commitment - commit) === 0;
}

// Step 3: mark to market on the old positions, new positions, pre-liquidation cash:
//   vm = sum_m q[m] * dp[m],  qn = (q + delta) * live,  cpre = c + vm + tradeCash + deposit,
// dp = (P - Pprev) - (F - Fprev) (funding: docs/protocol.md, "Instruments"); live[m] = 0
// once instrument m is settled (at and after its expiry): no trades in it, and the
// position closes after this last variation margin.
// Inputs checked elsewhere: |dp| < 2^(PRICE_BITS+2) (market), live bits (Epoch), delta
// and tradeCash (OpenReport), 0 <= deposit < 2^CASH_BITS (events). qn is left to the
// caller: a member's position limit bounds it (MemberStep); the house never trades.
template MarkToMarket(M, DELTA_BITS, CASH_BITS) {
    signal input c;
    signal input q[M];
    signal input dp[M];
    signal input live[M];
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
        delta[m] * (1 - live[m]) === 0;
        qn[m] <== (q[m] + delta[m]) * live[m];
    }
    cpre <== c + vm + tradeCash + deposit;
    // cpre is a cash amount (within CASH bounds); the same bits give its sign.
    cpreNeg <== SignBit(CASH_BITS)(cpre);

    // Trades cannot create a shortfall (docs/protocol.md, "Trades cannot move value out of
    // the pool"): with e0 = c + vm + deposit, the equity before trade cash,
    // cpre >= min(e0, 0). |e0| < 2^CASH + M * 2^98 + 2^CASH < 2^(CASH+2), and
    // cpre - min(e0, 0) < 2^CASH + 2^(CASH+2) < 2^(CASH+3).
    signal e0 <== c + vm + deposit;
    signal e0Neg <== SignBit(CASH_BITS + 2)(e0);
    signal e0Floor <== e0Neg * e0;
    Unsigned(CASH_BITS + 3)(cpre - e0Floor);
}

// Steps 4-8 for a member slot (i >= 1): margin, liquidation, withdrawal eligibility,
// penalty and the slot's new values before any withdrawal (cRest); toHouse / toHouseQ are
// what the house account takes over. Whether an eligible withdrawal is granted also
// depends on the house (Epoch: none while the house is negative), so it is decided there.
template MemberStep(M, K, DELTA_BITS, CASH_BITS, RISK_BITS, LOSS_BITS, IM_FACTOR_BITS,
                    PENALTY_BITS, BP) {
    var MM_BITS = mmBits(LOSS_BITS, BP);
    var IM_BITS = imBits(LOSS_BITS, IM_FACTOR_BITS, BP);
    var PEN_BITS = ceilDivBits(MM_BITS + PENALTY_BITS, BP);
    assert(MM_BITS <= IM_BITS && IM_BITS < CASH_BITS && PEN_BITS < CASH_BITS);
    signal input cpre; // -2^CASH_BITS <= cpre < 2^CASH_BITS (MarkToMarket)
    signal input cpreNeg;
    signal input q[M]; // the positions before the epoch (range-checked in MarkToMarket)
    signal input qn[M];
    signal input risk[K][M]; // r[k][m], |r| <= 2^RISK_BITS (Epoch)
    signal input posLimit[M];
    signal input imFactorBp;
    signal input penaltyBp;
    signal input withdraw; // 0 or a requested amount in [1, 2^CASH_BITS)
    signal output liq;
    signal output eligible; // requested and cpre - withdraw >= IM
    signal output cRest; // the new collateral before a granted withdrawal is paid
    signal output qNew[M];
    signal output toHouse; // liq * (penalty + min(cpre, 0))
    signal output toHouseQ[M]; // liq * qn

    // Position limits bind increases only: |qn| <= max(posLimit, |q|), so a limit that
    // governance lowers below a held position never makes an epoch unprovable; the member
    // may only trade down. |q| <= 2^DELTA_BITS (q is range-checked in MarkToMarket), so
    // lim <= 2^DELTA_BITS and both differences lie in [0, 2^(DELTA_BITS+2)) exactly when
    // |qn| <= lim; qn also keeps the DELTA range of a leaf.
    signal qNeg[M];
    signal qAbs[M];
    signal lim[M];
    for (var m = 0; m < M; m++) {
        qNeg[m] <== SignBit(DELTA_BITS)(q[m]);
        qAbs[m] <== q[m] - 2 * qNeg[m] * q[m];
        lim[m] <== SignedMax(DELTA_BITS + 1)(posLimit[m], qAbs[m]);
        Unsigned(DELTA_BITS + 2)(lim[m] - qn[m]);
        Unsigned(DELTA_BITS + 2)(lim[m] + qn[m]);
    }
    SignedRangeArray(M, DELTA_BITS)(qn);
    component margin = PortfolioMargin(M, K, DELTA_BITS, RISK_BITS, LOSS_BITS, IM_FACTOR_BITS, BP);
    margin.q <== qn;
    margin.risk <== risk;
    margin.imFactorBp <== imFactorBp;

    // Step 5. Liquidated iff equity < MM: the bit *is* the comparison, so both directions
    // hold (no solvent member liquidated, no insolvent one kept).
    // cpre - MM lies in [-2^CASH - 2^MM_BITS, 2^CASH).
    liq <== SignedLessThan(CASH_BITS + 1)(cpre, margin.mm);

    // Step 6. Eligible iff requested and cpre - w >= IM; a refused request changes
    // nothing. cpre - w - IM lies in [-2^(CASH+1) - 2^IM_BITS, 2^CASH). A liquidated slot
    // has cpre < MM <= IM, so it is never eligible.
    signal wZero <== IsZero()(withdraw);
    signal short <== SignedLessThan(CASH_BITS + 2)(cpre - withdraw, margin.im);
    eligible <== (1 - wZero) * (1 - short);

    // Step 7. Penalty = min(ceil(MM * penaltyBp / BP), max(cpre, 0)): never more than the
    // remaining equity, so the defaulter ends with max(cpre, 0) - penalty >= 0.
    signal pos <== cpre * (1 - cpreNeg);
    signal penRaw <== CeilDivConst(MM_BITS + PENALTY_BITS, BP)(margin.mm * penaltyBp);
    // penRaw - pos lies in (-2^CASH, 2^PEN_BITS).
    signal pen <== SignedMin(CASH_BITS)(penRaw, pos);

    // Step 8. The house takes penalty and shortfall (min(cpre, 0) = cpre - pos) and the
    // positions; what it takes is exactly what the slot gives up, so cash and positions
    // are conserved by construction: liquidated, cRest = pos - pen and the slot is flat;
    // otherwise cRest = cpre and qNew = qn.
    toHouse <== liq * (pen + cpre - pos);
    cRest <== cpre - toHouse;
    for (var m = 0; m < M; m++) {
        toHouseQ[m] <== liq * qn[m];
        qNew[m] <== qn[m] - toHouseQ[m];
    }
}
