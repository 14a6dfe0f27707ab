pragma circom 2.1.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/bitify.circom";
include "lib/hash.circom";
include "lib/range.circom";
include "lib/compare.circom";
include "lib/divide.circom";
include "lib/merkle.circom";
include "lib/events.circom";
include "lib/margin.circom";

// One epoch of clearing (docs/protocol.md, "The epoch"): N slots (slot 0 = house),
// M instruments, K margin scenarios, E event slots. Bounds come from zkclear/bounds.py
// through the circuit registry. Every public value is a public input, in this order:
// oldRoot, newRoot, epoch, paramsHash, pricesPrevHash, pricesHash, eventsAcc, nEvents,
// liquidatedMask, grantedMask, totalCollateral.

// The governed risk parameters: ranges, and their hash.
template RiskParams(M, K, DELTA_BITS, SHOCK_BITS) {
    signal input imFactorBp;
    signal input penaltyBp;
    signal input posLimit[M];
    signal input shock[K][M];
    signal output hash;
    // 10000 <= imFactorBp < 2^16; 0 <= penaltyBp <= 10000; 1 <= posLimit < 2^DELTA_BITS.
    Unsigned(16)(imFactorBp - 10000);
    Unsigned(16)(imFactorBp);
    Unsigned(14)(penaltyBp);
    Unsigned(14)(10000 - penaltyBp);
    for (var m = 0; m < M; m++) {
        Unsigned(DELTA_BITS)(posLimit[m] - 1);
        Unsigned(DELTA_BITS)(posLimit[m]);
    }
    for (var k = 0; k < K; k++) {
        SignedRangeArray(M, SHOCK_BITS)(shock[k]);
    }
    signal v[2 + M + K * M];
    v[0] <== imFactorBp;
    v[1] <== penaltyBp;
    for (var m = 0; m < M; m++) {
        v[2 + m] <== posLimit[m];
    }
    for (var k = 0; k < K; k++) {
        for (var m = 0; m < M; m++) {
            v[2 + M + k * M + m] <== shock[k][m];
        }
    }
    hash <== PoseidonChain(2 + M + K * M)(v);
}

// Prices are positive ticks below 2^PRICE_BITS; returns their hash.
template Prices(M, PRICE_BITS) {
    signal input price[M];
    signal output hash;
    for (var m = 0; m < M; m++) {
        Unsigned(PRICE_BITS)(price[m]);
        Unsigned(PRICE_BITS)(price[m] - 1);
    }
    hash <== PoseidonChain(M)(price);
}

// Leaf = PoseidonChain(c, q[0..M-1], vkh, status, nonce).
template Leaf(M) {
    signal input c;
    signal input q[M];
    signal input vkh;
    signal input status;
    signal input nonce;
    signal output hash;
    signal v[M + 4];
    v[0] <== c;
    for (var m = 0; m < M; m++) {
        v[1 + m] <== q[m];
    }
    v[M + 1] <== vkh;
    v[M + 2] <== status;
    v[M + 3] <== nonce;
    hash <== PoseidonChain(M + 4)(v);
}

// A slot's report opens its commitment; no commitment means an all-zero report.
template OpenReport(M, DELTA_BITS, CASH_BITS) {
    signal input commit;
    signal input delta[M];
    signal input tradeCash;
    signal input salt;
    SignedRangeArray(M, DELTA_BITS)(delta);
    SignedRange(CASH_BITS)(tradeCash);
    signal none <== IsZero()(commit);
    for (var m = 0; m < M; m++) {
        none * delta[m] === 0;
    }
    none * tradeCash === 0;
    signal v[M + 2];
    for (var m = 0; m < M; m++) {
        v[m] <== delta[m];
    }
    v[M] <== tradeCash;
    v[M + 1] <== salt;
    signal h <== PoseidonChain(M + 2)(v);
    // With a commitment, the report is exactly the one committed.
    (1 - none) * (h - commit) === 0;
}

// The per-member step (i >= 1): margin, liquidation, withdrawal, penalty, new values.
template MemberStep(M, K, DELTA_BITS, CASH_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS) {
    signal input cpre;
    signal input qn[M];
    signal input price[M];
    signal input shock[K][M];
    signal input posLimit[M];
    signal input imFactorBp;
    signal input penaltyBp;
    signal input withdraw;
    signal output liq;
    signal output granted;
    signal output cNew;
    signal output qNew[M];
    signal output toHouse; // penalty + min(cpre, 0): what the house account receives
    signal output paid; // the granted withdrawal

    // Position limits: |qn| <= posLimit (both < 2^DELTA_BITS, so the sums fit).
    for (var m = 0; m < M; m++) {
        Unsigned(DELTA_BITS + 1)(posLimit[m] - qn[m]);
        Unsigned(DELTA_BITS + 1)(posLimit[m] + qn[m]);
    }
    component margin = PortfolioMargin(M, K, DELTA_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS);
    margin.q <== qn;
    margin.price <== price;
    margin.shock <== shock;
    margin.imFactorBp <== imFactorBp;

    // Liquidated iff equity < MM: the bit is the comparison, so both directions hold.
    // cpre is range-checked by the caller; MM < 2^109 < 2^CASH_BITS.
    liq <== SignedLessThan(CASH_BITS)(cpre, margin.mm);

    // A withdrawal is granted iff requested and cpre - w >= IM (never half-applied).
    signal wZero <== IsZero()(withdraw);
    signal after <== cpre - withdraw;
    SignedRange(CASH_BITS + 1)(after);
    signal short <== SignedLessThan(CASH_BITS + 1)(after, margin.im);
    granted <== (1 - wZero) * (1 - short);

    // Penalty = min(ceil(MM * penaltyBp / 10000), max(cpre, 0)) when liquidated.
    signal penRaw <== CeilDivConst(LOSS_BITS, 10000)(margin.mm * penaltyBp);
    component pos = PositivePart(CASH_BITS);
    pos.in <== cpre;
    signal pen <== UnsignedMin(CASH_BITS)(penRaw, pos.out);
    signal liqPen <== liq * pen;
    // min(cpre, 0) = cpre - max(cpre, 0)
    toHouse <== liqPen + liq * (cpre - pos.out);

    // Survivor: cpre - granted * w. Liquidated (granted is then 0, as cpre < MM <= IM):
    // max(cpre, 0) - penalty >= 0, and flat.
    paid <== granted * withdraw;
    signal liqAdj <== liq * (pos.out - pen - cpre);
    cNew <== cpre - paid + liqAdj;
    for (var m = 0; m < M; m++) {
        qNew[m] <== qn[m] * (1 - liq);
    }
}

template Epoch(N, M, K, E, DELTA_BITS, CASH_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS) {
    assert(N >= 2 && N <= 128);
    // public
    signal input oldRoot;
    signal input newRoot;
    signal input epoch;
    signal input paramsHash;
    signal input pricesPrevHash;
    signal input pricesHash;
    signal input eventsAcc;
    signal input nEvents;
    signal input liquidatedMask;
    signal input grantedMask;
    signal input totalCollateral;
    // private: parameters, prices, events
    signal input imFactorBp;
    signal input penaltyBp;
    signal input posLimit[M];
    signal input shock[K][M];
    signal input pricePrev[M];
    signal input price[M];
    signal input evKind[E];
    signal input evSlot[E];
    signal input evValue[E];
    // private: old leaves, new nonces, reports
    signal input c[N];
    signal input q[N][M];
    signal input vkh[N];
    signal input status[N];
    signal input nonce[N];
    signal input nonceNew[N];
    signal input delta[N][M];
    signal input tradeCash[N];
    signal input salt[N];

    // The epoch number enters no other constraint; squaring it binds it to the proof
    // (as semaphore does for its signal hash) so it cannot be changed after proving.
    signal epochSquared <== epoch * epoch;

    signal paramsHashIn <== RiskParams(M, K, DELTA_BITS, SHOCK_BITS)(
        imFactorBp, penaltyBp, posLimit, shock);
    paramsHash === paramsHashIn;
    signal pricesPrevHashIn <== Prices(M, PRICE_BITS)(pricePrev);
    pricesPrevHash === pricesPrevHashIn;
    signal pricesHashIn <== Prices(M, PRICE_BITS)(price);
    pricesHash === pricesHashIn;

    // Events: the accumulator the contract kept, and what it says per slot.
    component acc = EventAccumulator(E);
    acc.kind <== evKind;
    acc.slot <== evSlot;
    acc.value <== evValue;
    acc.nEvents <== nEvents;
    eventsAcc === acc.acc;
    component ev = EventsPerSlot(N, E, CASH_BITS);
    ev.kind <== evKind;
    ev.slot <== evSlot;
    ev.value <== evValue;
    ev.active <== acc.active;

    // Old state: well-formed leaves under oldRoot, positions net to zero.
    component oldLeaf[N];
    for (var i = 0; i < N; i++) {
        SignedRange(CASH_BITS)(c[i]);
        SignedRangeArray(M, DELTA_BITS)(q[i]);
        status[i] * (1 - status[i]) === 0;
        oldLeaf[i] = Leaf(M);
        oldLeaf[i].c <== c[i];
        oldLeaf[i].q <== q[i];
        oldLeaf[i].vkh <== vkh[i];
        oldLeaf[i].status <== status[i];
        oldLeaf[i].nonce <== nonce[i];
    }
    signal oldLeafHash[N];
    for (var i = 0; i < N; i++) {
        oldLeafHash[i] <== oldLeaf[i].hash;
    }
    signal oldRootIn <== MerkleRoot(N)(oldLeafHash);
    oldRoot === oldRootIn;

    // Membership and reports.
    signal statusNew[N];
    signal vkhNext[N];
    component open[N];
    for (var i = 0; i < N; i++) {
        statusNew[i] <== status[i] + ev.reg[i] - status[i] * ev.reg[i];
        vkhNext[i] <== vkh[i] + ev.reg[i] * (ev.vkhNew[i] - vkh[i]);
        // Only members report, deposit or withdraw.
        (1 - statusNew[i]) * ev.commit[i] === 0;
        (1 - statusNew[i]) * ev.deposit[i] === 0;
        (1 - statusNew[i]) * ev.withdraw[i] === 0;
        open[i] = OpenReport(M, DELTA_BITS, CASH_BITS);
        open[i].commit <== ev.commit[i];
        open[i].delta <== delta[i];
        open[i].tradeCash <== tradeCash[i];
        open[i].salt <== salt[i];
    }

    // Netting conserves positions and cash; old positions net to zero.
    for (var m = 0; m < M; m++) {
        var sd = 0;
        var sq = 0;
        for (var i = 0; i < N; i++) {
            sd += delta[i][m];
            sq += q[i][m];
        }
        sd === 0;
        sq === 0;
    }
    var sCash = 0;
    for (var i = 0; i < N; i++) {
        sCash += tradeCash[i];
    }
    sCash === 0;

    // Mark to market and the pre-liquidation values of every slot.
    signal dp[M];
    for (var m = 0; m < M; m++) {
        dp[m] <== price[m] - pricePrev[m];
    }
    signal vmTerm[N][M];
    signal qn[N][M];
    signal cpre[N];
    for (var i = 0; i < N; i++) {
        var vm = 0;
        for (var m = 0; m < M; m++) {
            vmTerm[i][m] <== q[i][m] * dp[m];
            vm += vmTerm[i][m];
            qn[i][m] <== q[i][m] + delta[i][m];
        }
        SignedRangeArray(M, DELTA_BITS)(qn[i]);
        cpre[i] <== c[i] + vm + tradeCash[i] + ev.deposit[i];
        SignedRange(CASH_BITS)(cpre[i]);
    }

    // Members: margin, liquidation, withdrawals, penalties.
    component step[N];
    signal cNew[N];
    signal qNew[N][M];
    signal liqQ[N][M];
    var houseQ[M];
    for (var m = 0; m < M; m++) {
        houseQ[m] = qn[0][m];
    }
    var houseC = cpre[0];
    var liqMask = 0;
    var grantMask = 0;
    for (var i = 1; i < N; i++) {
        step[i] = MemberStep(M, K, DELTA_BITS, CASH_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS);
        step[i].cpre <== cpre[i];
        step[i].qn <== qn[i];
        step[i].price <== price;
        step[i].shock <== shock;
        step[i].posLimit <== posLimit;
        step[i].imFactorBp <== imFactorBp;
        step[i].penaltyBp <== penaltyBp;
        step[i].withdraw <== ev.withdraw[i];
        cNew[i] <== step[i].cNew;
        qNew[i] <== step[i].qNew;
        for (var m = 0; m < M; m++) {
            liqQ[i][m] <== step[i].liq * qn[i][m];
            houseQ[m] += liqQ[i][m];
        }
        houseC += step[i].toHouse;
        liqMask += step[i].liq * (1 << i);
        grantMask += step[i].granted * (1 << i);
    }
    // The house takes the liquidated positions at the mark, penalties and shortfalls.
    cNew[0] <== houseC;
    for (var m = 0; m < M; m++) {
        qNew[0][m] <== houseQ[m];
    }
    SignedRange(CASH_BITS)(cNew[0]);
    SignedRangeArray(M, DELTA_BITS)(qNew[0]);
    liquidatedMask === liqMask;
    grantedMask === grantMask;

    // Totals: positions still net to zero; collateral is conserved.
    for (var m = 0; m < M; m++) {
        var s = 0;
        for (var i = 0; i < N; i++) {
            s += qNew[i][m];
        }
        s === 0;
    }
    var total = 0;
    var totalOld = 0;
    var deposits = 0;
    for (var i = 0; i < N; i++) {
        total += cNew[i];
        totalOld += c[i];
        deposits += ev.deposit[i];
    }
    var paid = 0;
    for (var i = 1; i < N; i++) {
        paid += step[i].paid;
    }
    totalCollateral === total;
    total === totalOld + deposits - paid;

    // New state under newRoot, with fresh nonces.
    component newLeaf[N];
    signal newLeafHash[N];
    for (var i = 0; i < N; i++) {
        newLeaf[i] = Leaf(M);
        newLeaf[i].c <== cNew[i];
        newLeaf[i].q <== qNew[i];
        newLeaf[i].vkh <== vkhNext[i];
        newLeaf[i].status <== statusNew[i];
        newLeaf[i].nonce <== nonceNew[i];
        newLeafHash[i] <== newLeaf[i].hash;
    }
    signal newRootIn <== MerkleRoot(N)(newLeafHash);
    newRoot === newRootIn;
}
