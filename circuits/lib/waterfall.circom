pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";
include "compare.circom";
include "divide.circom";

// The default fund, the loss waterfall and Cover-2 (docs/protocol.md, "Default fund, the
// loss waterfall and Cover-2"); clearing/waterfall.py computes the same amounts.

// out = ceil(num / den) for 0 <= num < 2^NUM_BITS and 0 <= den < 2^DEN_BITS, and out = 0
// when den = 0 (then num must be 0: every caller's numerator is a multiple of a part of
// den). out < 2^OUT_BITS is the caller's bound on the result.
// out * den' - num = rem with 0 <= rem < den' (den' = den, or 1 when den = 0) pins out:
// out * den' < 2^(OUT_BITS + DEN_BITS) is far below r, so the equation holds over the
// integers, and exactly one multiple of den' lies in [num, num + den').
template CeilDivVar(NUM_BITS, DEN_BITS, OUT_BITS) {
    assert(OUT_BITS + DEN_BITS <= 250 && NUM_BITS <= 250);
    signal input num;
    signal input den;
    signal output out;
    signal zero <== IsZero()(den);
    signal d <== den + zero;
    out <-- (num + d - 1) \ d;
    Unsigned(OUT_BITS)(out);
    signal rem <== out * d - num;
    Unsigned(DEN_BITS)(rem);
    Unsigned(DEN_BITS)(d - 1 - rem);
}

// A member's default-fund call (docs/protocol.md, "Default fund"):
//   ST   = ceil(MM * stressBp / BP)                                (the Cover-2 stress loss)
//   req  = member * (MM > 0) * max(dfFloor, ceil(ST * scale / BP)) (scale = max(dfShareBp, dfScale))
//   short = req - df;  call = min(short, max(0, cpre - MM))
//   (a return when short <= 0: then the min is short itself)
//   e = cpre - call (the margin equity);  held = df + call;  callMet = (held == req)
// The excess returns to collateral; a deficit is called from the equity above MM only,
// so the call never liquidates (liq = e < MM holds iff cpre < MM when a call is due).
// Inputs: 0 <= MM < 2^MM_BITS, 10000 <= stressBp < 2^SCALE_BITS, 0 <= scale < 2^SCALE_BITS,
// 0 <= dfFloor < 2^FUND_BITS (RiskParams), member a bit, |cpre| < 2^CASH_BITS,
// 0 <= df < 2^CASH_BITS (the old leaf's checks).
template FundCall(MM_BITS, CASH_BITS, FUND_BITS, SCALE_BITS, BP) {
    var ST_BITS = ceilDivBits(MM_BITS + SCALE_BITS, BP);
    var SH_BITS = ceilDivBits(ST_BITS + SCALE_BITS, BP);
    assert(FUND_BITS < CASH_BITS && SH_BITS < CASH_BITS && MM_BITS < CASH_BITS);
    signal input mm;
    signal input stressBp;
    signal input scale;
    signal input dfFloor;
    signal input member;
    signal input cpre;
    signal input df;
    signal output stress;
    signal output req;
    signal output e;
    signal output held;
    signal output callMet;

    stress <== CeilDivConst(MM_BITS + SCALE_BITS, BP)(mm * stressBp);
    signal share <== CeilDivConst(ST_BITS + SCALE_BITS, BP)(stress * scale);
    // share, dfFloor < 2^(CASH_BITS - 1): the difference fits CASH_BITS.
    signal need <== SignedMax(CASH_BITS)(dfFloor, share);
    signal mmZero <== IsZero()(mm);
    signal active <== member * (1 - mmZero);
    req <== active * need;
    // short in (-2^CASH, 2^CASH): >= 1 a call, otherwise a return (min(short, room) =
    // short then, room >= 0). cpre - MM in (-2^(CASH+1), 2^CASH); |short - room| < 2^(CASH+1).
    signal short <== req - df;
    signal room <== SignedMax(CASH_BITS + 2)(cpre - mm, 0);
    signal call <== SignedMin(CASH_BITS + 2)(short, room);
    // |e| < 2^CASH + 2^CASH < 2^(CASH + 2); 0 <= held < 2^CASH
    e <== cpre - call;
    held <== df + call;
    callMet <== IsZero()(req - held);
}

// Steps 5 and 7 on the margin equity e, and the defaulter's own layer:
//   liq = e < MM; eL = e + liq * back (an auction winner's unwound bid);
//   pen = liq * min(ceil(MM * penaltyBp / BP), max(eL, 0)); s = liq * max(-eL, 0) (the shortfall); own = min(s, held) (the defaulter's contribution
//   used); gain = surv * min(max(vm, 0), e) (the haircut's base), surv = member * (1 - liq).
// |e| < 2^(CASH_BITS+2), 0 <= MM < 2^MM_BITS, |vm| < 2^VM_BITS, 0 <= held < 2^CASH_BITS.
template Default(MM_BITS, PENALTY_BITS, CASH_BITS, VM_BITS, BP) {
    var PEN_BITS = ceilDivBits(MM_BITS + PENALTY_BITS, BP);
    var EB = CASH_BITS + 2;
    assert(MM_BITS < EB && PEN_BITS < EB && VM_BITS < EB);
    signal input e;
    signal input mm;
    signal input penaltyBp;
    signal input held;
    signal input member;
    signal input vm;
    signal input back; // an auction winner's bid, unwound if it is liquidated (0 otherwise)
    signal output liq;
    signal output surv;
    signal output ePos; // max(e, 0)
    signal output pen;
    signal output shortfall;
    signal output own;
    signal output gain;

    // Liquidated iff e < MM: the bit *is* the comparison (both directions).
    // e - MM lies in (-2^EB - 2^MM_BITS, 2^EB).
    liq <== SignedLessThan(EB + 1)(e, mm);
    surv <== member * (1 - liq);
    // A liquidated winner's equity without its bid: eL = e + liq * back (|eL| < 2^EB:
    // then e + back = cpre - call with call <= 0, FundCall).
    signal eL <== e + liq * back;
    signal eNeg <== SignBit(EB)(eL);
    ePos <== eL * (1 - eNeg);
    signal penRaw <== CeilDivConst(MM_BITS + PENALTY_BITS, BP)(mm * penaltyBp);
    signal penCap <== SignedMin(EB + 1)(penRaw, ePos);
    pen <== liq * penCap;
    shortfall <== liq * (ePos - eL);
    // shortfall < 2^EB, 0 <= held < 2^CASH_BITS
    own <== SignedMin(EB + 1)(shortfall, held);
    signal vmPos <== SignedMax(VM_BITS + 1)(vm, 0);
    signal gainRaw <== SignedMin(EB + 1)(vmPos, e);
    gain <== surv * gainRaw;
}

// The bits of a slot count that widen sums over the N slots: log2(N), but at least 6, so
// pools up to 64 slots keep the widths (and constraint counts) they were built with.
function slotBits(N) {
    var b = 6;
    while ((1 << b) < N) {
        b++;
    }
    return b;
}

// The pooled layers of the waterfall, for N slots (slot 0, the house, has zeros):
//   R1 = sum s - O + saleLoss, O = sum own;  H = cpreHouse + sum pen + saleGain;
//   hUse = min(R1, skinCap, max(H, 0)); R2 = R1 - hUse;
//   F = sum surv * held; fUse = min(R2, F); R3 = R2 - fUse;  u_i = ceil(fUse * surv_i held_i / F)
//   G = sum gain; hcUse = min(R3, G);  y_i = ceil(hcUse * gain_i / G)
//   house = H - R1 + sum u + sum y.
// Bounds: s, own < 2^(CASH+2); held < 2^REQ_BITS (a survivor's: df' < req of the epoch
// before, or req); gain < 2^VM_BITS; pen < 2^(CASH+2);
// |cpreHouse| < 2^CASH; skinCap < 2^FUND_BITS. N <= 2^slotBits(N), so every sum is below
// 2^(CASH + 3 + slotBits(N)) (2^(CASH+9) up to N = 64).
template Waterfall(N, CASH_BITS, REQ_BITS, VM_BITS) {
    var SB = CASH_BITS + 3 + slotBits(N);
    var F_BITS = REQ_BITS + 1 + slotBits(N);
    var G_BITS = VM_BITS + 1 + slotBits(N);
    signal input shortfall[N];
    signal input own[N];
    signal input pen[N];
    signal input reqSurv[N]; // surv_i * held_i
    signal input gain[N];
    signal input cpreHouse;
    signal input skinCap;
    signal input saleGain; // max(B, 0), B the lot's sale price (the auction), into H
    signal input saleLoss; // max(-B, 0): what the house paid to sell the lot, into R1
    signal output u[N];
    signal output y[N];
    signal output house;
    signal output O;
    signal output hUse;
    signal output fUse;
    signal output hcUse;
    signal output F;
    signal output G;

    var sumS = 0;
    var sumO = 0;
    var sumPen = 0;
    var sumF = 0;
    var sumG = 0;
    for (var i = 0; i < N; i++) {
        sumS += shortfall[i];
        sumO += own[i];
        sumPen += pen[i];
        sumF += reqSurv[i];
        sumG += gain[i];
    }
    O <== sumO;
    F <== sumF;
    G <== sumG;
    signal r1 <== sumS - sumO + saleLoss;
    signal h <== cpreHouse + sumPen + saleGain;
    signal hNeg <== SignBit(SB)(h);
    signal hPos <== h * (1 - hNeg);
    signal cap <== SignedMin(SB)(skinCap, hPos);
    hUse <== SignedMin(SB)(r1, cap);
    signal r2 <== r1 - hUse;
    fUse <== SignedMin(SB)(r2, F);
    signal r3 <== r2 - fUse;
    hcUse <== SignedMin(SB)(r3, G);
    // Pro rata, rounded up: u_i <= held_i (fUse <= F), y_i <= gain_i (hcUse <= G).
    // Slot 0, the house, has neither.
    var sumU = 0;
    var sumY = 0;
    u[0] <== 0;
    y[0] <== 0;
    for (var i = 1; i < N; i++) {
        u[i] <== CeilDivVar(F_BITS + REQ_BITS, F_BITS, REQ_BITS)(fUse * reqSurv[i], F);
        y[i] <== CeilDivVar(G_BITS + VM_BITS, G_BITS, VM_BITS)(hcUse * gain[i], G);
        sumU += u[i];
        sumY += y[i];
    }
    house <== h - r1 + sumU + sumY;
}

// Cover-2 on the new values: unc_i = surv_i * max(0, ST_i - c'_i - df'_i); C2 = the sum
// of the two largest; skin = min(skinCap, max(c'_0, 0)); met = (sum surv_i df'_i + skin >= C2)
// (a defaulter's leftover contribution covers its own shortfalls only);
// D = sum surv_i * ST_i; scaleNext = min(2^SCALE_BITS - 1, ceil(max(0, C2 - skin) * BP / D))
// (0 when D = 0, when C2 = 0 too). Which slots are the two largest stays private.
// Bounds: 0 <= ST < 2^ST_BITS; |c'| < 2^CASH_BITS; 0 <= df' < 2^CASH_BITS; N <= 2^slotBits(N).
template Cover2(N, ST_BITS, CASH_BITS, SCALE_BITS, BP) {
    var B = CASH_BITS + 3 + slotBits(N);
    var UB = ST_BITS + 1; // 0 <= unc <= ST < 2^ST_BITS for a survivor, 0 otherwise
    signal input stress[N];
    signal input surv[N];
    signal input c[N]; // c'_i (c[0] = the house's, which has no stress: slot 0 is skipped)
    signal input df[N];
    signal input skinCap;
    signal output met;
    signal output scaleNext;

    // unc_i for the members; gap needs the CASH range (a defaulter's c' is not bounded
    // by its stress).
    signal gap[N];
    signal unc[N];
    signal survStress[N];
    signal survDf[N];
    unc[0] <== 0;
    var fund = 0;
    var d = 0;
    for (var i = 1; i < N; i++) {
        gap[i] <== SignedMax(CASH_BITS + 2)(stress[i] - c[i] - df[i], 0);
        unc[i] <== surv[i] * gap[i];
        survStress[i] <== surv[i] * stress[i];
        survDf[i] <== surv[i] * df[i];
        d += survStress[i];
        fund += survDf[i];
    }
    // The two largest: the prover names them by one-hot selectors a, b (private, so which
    // members they are stays private); top1 = unc_a >= top2 = unc_b >= every other unc_i.
    // One range check per slot instead of a running top-2 (three comparisons per slot).
    signal selA[N];
    signal selB[N];
    signal pickA[N];
    signal pickB[N];
    signal rest[N];
    var ia = 0;
    for (var i = 1; i < N; i++) {
        if (unc[i] > unc[ia]) {
            ia = i;
        }
    }
    var ib = ia == 0 ? 1 : 0;
    for (var i = 0; i < N; i++) {
        if (i != ia && unc[i] > unc[ib]) {
            ib = i;
        }
    }
    var sumA = 0;
    var sumB = 0;
    var top1 = 0;
    var top2 = 0;
    for (var i = 0; i < N; i++) {
        selA[i] <-- i == ia ? 1 : 0;
        selB[i] <-- i == ib ? 1 : 0;
        selA[i] * (1 - selA[i]) === 0;
        selB[i] * (1 - selB[i]) === 0;
        selA[i] * selB[i] === 0;
        sumA += selA[i];
        sumB += selB[i];
        pickA[i] <== selA[i] * unc[i];
        pickB[i] <== selB[i] * unc[i];
        top1 += pickA[i];
        top2 += pickB[i];
    }
    sumA === 1;
    sumB === 1;
    signal t1 <== top1;
    signal t2 <== top2;
    Unsigned(UB)(t1 - t2);
    // top2 >= unc_i for every i but a (rest_i = 0 for i = a).
    for (var i = 0; i < N; i++) {
        rest[i] <== (1 - selA[i]) * (t2 - unc[i]);
        Unsigned(UB)(rest[i]);
    }
    signal c2 <== t1 + t2;
    signal houseNeg <== SignBit(CASH_BITS)(c[0]);
    signal housePos <== c[0] * (1 - houseNeg);
    signal skin <== SignedMin(B)(skinCap, housePos);
    signal short <== SignedLessThan(B)(fund + skin, c2);
    met <== 1 - short;
    signal need <== SignedMax(B)(c2 - skin, 0);
    signal dSum <== d;
    // A survivor ends with c' >= 0 and df' >= 0 (e >= MM >= 0, y <= gain <= e, a grant
    // keeps IM >= 0), so unc <= ST < 2^ST_BITS, C2 < 2^(ST_BITS+1) and need * BP <
    // 2^(ST_BITS+15); D < 2^(ST_BITS+slotBits(N)). Outside these bounds there is no witness.
    var D_BITS = ST_BITS + 1 + slotBits(N);
    var NB = ST_BITS + 15;
    signal raw <== CeilDivVar(NB, D_BITS, NB)(need * BP, dSum);
    scaleNext <== SignedMin(NB + 1)(raw, (1 << SCALE_BITS) - 1);
}
