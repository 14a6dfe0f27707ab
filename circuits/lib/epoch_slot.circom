pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "cipher.circom";
include "range.circom";
include "compare.circom";
include "divide.circom";
include "margin.circom";
include "waterfall.circom";

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
    signal output vm; // |vm| < M * 2^(DELTA_BITS + PRICE_BITS + 2) <= 2^106

    // The old leaf. The previous epoch's proof left it in range; checking again keeps
    // this proof self-contained (and genesis is not proven) and bounds the products.
    SignedRange(CASH_BITS)(c);
    SignedRangeArray(M, DELTA_BITS)(q);
    signal vmTerm[M];
    var vmSum = 0;
    for (var m = 0; m < M; m++) {
        vmTerm[m] <== q[m] * dp[m];
        vmSum += vmTerm[m];
        delta[m] * (1 - live[m]) === 0;
        qn[m] <== (q[m] + delta[m]) * live[m];
    }
    vm <== vmSum;
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

// Steps 4-7 for a member slot (i >= 1): margin, the default-fund call, liquidation and
// penalty (docs/protocol.md, "Default fund, the loss waterfall and Cover-2": steps 5-7 look
// at e = cpre - (req - df)); toHouseQ is what the house takes over. The waterfall
// (Waterfall) and the new values (MemberSettle) follow in Epoch, which has every slot.
template MemberStep(M, K, DELTA_BITS, CASH_BITS, RISK_BITS, LOSS_BITS, IM_FACTOR_BITS,
                    PENALTY_BITS, BP, FUND_BITS, SCALE_BITS, VM_BITS) {
    var MM_BITS = mmBits(LOSS_BITS, BP);
    var IM_BITS = imBits(LOSS_BITS, IM_FACTOR_BITS, BP);
    assert(MM_BITS <= IM_BITS && IM_BITS < CASH_BITS);
    signal input cpre; // -2^CASH_BITS <= cpre < 2^CASH_BITS (MarkToMarket)
    signal input q[M]; // the positions before the epoch (range-checked in MarkToMarket)
    signal input qn[M];
    signal input vm; // |vm| < 2^VM_BITS (MarkToMarket)
    signal input risk[K][M]; // r[k][m], |r| <= 2^RISK_BITS (Epoch)
    signal input posLimit[M];
    signal input imFactorBp;
    signal input penaltyBp;
    signal input stressBp;
    signal input scale; // max(dfShareBp, dfScale)
    signal input dfFloor;
    signal input member; // status' (a bit)
    signal input df; // the old contribution, 0 <= df < 2^CASH_BITS
    signal input lot[M]; // the house's lot if this slot won it (0 otherwise; |lot| < 2^DELTA_BITS)
    signal input pay; // the winner's positive bid (0 otherwise; < 2^FUND_BITS)
    signal output mm;
    signal output im;
    signal output stress;
    signal output req;
    signal output held;
    signal output callMet;
    signal output e;
    signal output liq;
    signal output surv;
    signal output ePos;
    signal output pen;
    signal output shortfall;
    signal output own;
    signal output gain;
    signal output qNew[M];
    signal output toHouseQ[M]; // liq * qa

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
    // The auction winner margins its positions with the lot (docs/protocol.md, "The
    // auction of the house's lot"); the limit above binds its own trades only. qa keeps
    // the DELTA range of a leaf (|qn| <= lim as checked, so only qa needs the check).
    signal qa[M];
    for (var m = 0; m < M; m++) {
        qa[m] <== qn[m] + lot[m];
    }
    SignedRangeArray(M, DELTA_BITS)(qa);
    component margin = PortfolioMargin(M, K, DELTA_BITS, RISK_BITS, LOSS_BITS, IM_FACTOR_BITS, BP);
    margin.q <== qa;
    margin.risk <== risk;
    margin.imFactorBp <== imFactorBp;
    mm <== margin.mm;
    im <== margin.im;

    // The default-fund call: e = cpre - (req - df).
    component call = FundCall(MM_BITS, CASH_BITS, FUND_BITS, SCALE_BITS, BP);
    call.mm <== margin.mm;
    call.stressBp <== stressBp;
    call.scale <== scale;
    call.dfFloor <== dfFloor;
    call.member <== member;
    // A positive bid is paid after the trade-cash rule (MarkToMarket); the house's payment
    // for a negative one is credited after the margin test (MemberSettle), so the winner
    // margins the lot from its own equity.
    call.cpre <== cpre - pay;
    call.df <== df;
    stress <== call.stress;
    req <== call.req;
    held <== call.held;
    callMet <== call.callMet;
    e <== call.e;

    // Steps 5 and 7, and the defaulter's own layer of the waterfall.
    component d = Default(MM_BITS, PENALTY_BITS, CASH_BITS, VM_BITS, BP);
    d.e <== e;
    d.mm <== margin.mm;
    d.penaltyBp <== penaltyBp;
    d.held <== held;
    d.member <== member;
    d.vm <== vm;
    d.back <== pay;
    liq <== d.liq;
    surv <== d.surv;
    ePos <== d.ePos;
    pen <== d.pen;
    shortfall <== d.shortfall;
    own <== d.own;
    gain <== d.gain;

    // Step 8: the house takes the positions; the slot ends flat.
    for (var m = 0; m < M; m++) {
        toHouseQ[m] <== liq * qa[m];
        qNew[m] <== qa[m] - toHouseQ[m];
    }
}

// Steps 6 and 8 for a member slot, after the waterfall (u: its contribution used, y: its
// haircut): eligible iff requested, the call met and e - y - w >= IM; granted unless the
// house is negative; liquidated: c' = max(e, 0) - pen, df' = held - own; otherwise
// c' = e - y - granted * w + recv (recv: the house's payment to an auction winner),
// df' = held - u. A liquidated slot has e < MM <= IM and y = 0, so it is never eligible;
// a survivor has own = 0 and a liquidated one u = 0.
template MemberSettle(CASH_BITS) {
    signal input e; // |e| < 2^(CASH_BITS+2)
    signal input ePos;
    signal input pen;
    signal input liq;
    signal input held;
    signal input callMet;
    signal input own;
    signal input u;
    signal input y; // 0 <= y < 2^CASH_BITS
    signal input im;
    signal input withdraw; // 0 or a requested amount in [1, 2^CASH_BITS)
    signal input houseNeg;
    signal input recv; // the house's payment to the auction's winner (0 otherwise)
    signal output granted;
    signal output paid;
    signal output cNew;
    signal output dfNew;

    signal wZero <== IsZero()(withdraw);
    // e - y - w - IM lies in (-2^(CASH+3), 2^(CASH+2)).
    signal short <== SignedLessThan(CASH_BITS + 3)(e - y - withdraw, im);
    signal asked <== (1 - wZero) * (1 - short);
    signal eligible <== asked * callMet;
    granted <== eligible * (1 - houseNeg);
    paid <== granted * withdraw;
    // A liquidated winner is paid nothing (its bid unwinds).
    signal recvKept <== (1 - liq) * recv;
    cNew <== e - y - paid + recvKept + liq * (ePos - pen - e);
    dfNew <== held - own - u;
}
