pragma circom 2.1.0;

include "circomlib/circuits/multiplexer.circom";
include "lib/range.circom";
include "lib/compare.circom";
include "lib/merkle.circom";
include "lib/params.circom";
include "lib/state.circom";
include "lib/events.circom";
include "lib/conserve.circom";
include "lib/epoch_slot.circom";

// One epoch of clearing: checks exactly the transition of docs/protocol.md ("The epoch
// (PROTOCOL steps 1-8): exact semantics"), which clearing/epoch.py computes.
// N slots (slot 0 = house), M instruments, K margin scenarios, E event slots. Bounds and
// the basis-point scale come from zkclear/bounds.py through prover/registry.py.
// Every public value is a public input (no outputs), in the documented order.
template Epoch(N, M, K, E, DELTA_BITS, CASH_BITS, PRICE_BITS, SHOCK_BITS, LOSS_BITS,
               IM_FACTOR_BITS, PENALTY_BITS, BP, EPOCH_BITS, N_EVENTS_BITS, TOTAL_BITS,
               RHO_BITS, FUND_BITS, SCALE_BITS, LAYER_BITS, MASK_BITS) {
    // N is a power of two (Merkle), at most 256 (the auction word's 8-bit winner field;
    // the contract's uint256 masks). The liquidated and granted masks are exit-data words
    // of MASK_BITS bits each (W of them per mask), bound by exitSum like the leaves.
    assert(N >= 2 && N <= 256 && MASK_BITS <= 252 && 2 * SCALE_BITS + 1 + RHO_BITS <= 252);
    var W = (N + MASK_BITS - 1) \ MASK_BITS;
    assert(E < (1 << N_EVENTS_BITS) && EPOCH_BITS + N_EVENTS_BITS + TOTAL_BITS <= 252);
    // Public (clearing/public.py): the small values are packed, so the verifier pays for
    // fewer public inputs:
    //   epochInfo = epoch + nEvents * 2^EPOCH_BITS + totalCollateral * 2^(EPOCH_BITS + N_EVENTS_BITS)
    //   exitSum   = sum_j D[j] * rho^j, D = (new leaves, house collateral, liquidatedMask
    //               words, grantedMask words): the exit data the contract receives in
    //               calldata and derives rho from (Fiat-Shamir).
    signal input oldRoot;
    signal input newRoot;
    signal input epochInfo;
    signal input paramsHash;
    signal input pricesPrevHash;
    signal input pricesHash;
    signal input eventsAcc;
    signal input exitSum;
    //   fundInfo  = dfScale + dfScaleNext * 2^SCALE_BITS + cover2Met * 2^(2 SCALE_BITS)
    //               + rho * 2^(2 SCALE_BITS + 1)
    //   layersA   = fundOwn + fundHouse * 2^LAYER_BITS,  layersB = fundShared + fundHaircut * 2^LAYER_BITS
    //   fundTotals = fundBase + fundGains * 2^LAYER_BITS   (docs/protocol.md, "Default fund")
    signal input fundInfo;
    signal input layersA;
    signal input layersB;
    signal input fundTotals;
    //   auction = awarded + bidNeg * 2 + winner * 4 + bidAbs * 2^10 + houseFlat * 2^(10 + FUND_BITS)
    //             + lotMM * 2^(11 + FUND_BITS)   (docs/protocol.md, "The auction of the house's lot")
    signal input auction;
    // private: the values the packed signals carry (unpacked and range-checked below)
    signal input epoch;
    signal input nEvents;
    signal input liquidatedMask[W]; // exit-data words, MASK_BITS slots each
    signal input grantedMask[W];
    signal input totalCollateral;
    signal input rho;
    signal input dfScale; // the contract's dfScale (the previous epoch's dfScaleNext)
    signal input awarded; // the epoch's award of the house's lot (the contract's, at close)
    signal input bidNeg;
    signal input winner;
    signal input bidAbs;
    // private: parameters, prices, events
    signal input imFactorBp;
    signal input penaltyBp;
    signal input dfFloor;
    signal input dfShareBp;
    signal input stressBp;
    signal input skinCap;
    signal input posLimit[M];
    signal input shock[K][M];
    signal input isPerp[M]; // the instrument table (docs/protocol.md, "Instruments")
    signal input isOption[M];
    signal input expiry[M];
    // private: the market (marks, funding indices, option risk arrays) of this epoch and
    // the previous one
    signal input pricePrev[M];
    signal input fundPrev[M];
    signal input riskPrev; // the previous epoch's riskHash
    signal input price[M];
    signal input fund[M];
    signal input riskArray[M][K];
    signal input evKind[E];
    signal input evSlot[E];
    signal input evValue[E];
    signal input evLayout[N][4]; // the events by slot and kind (lib/events.circom)
    // private: old leaves, reports, view keys
    signal input c[N];
    signal input q[N][M];
    signal input df[N];
    signal input vkh[N];
    signal input status[N];
    signal input nonce[N];
    signal input delta[N][M];
    signal input tradeCash[N];
    signal input salt[N];
    signal input viewKey[N]; // K_i of every slot that committed or is blinded (0 otherwise)
    signal input blind[N]; // 1: the new leaf's nonce is derived from K_i (SlotKey)

    // Parameters and prices are the ones the contract holds by hash.
    var ARRAY_BITS = PRICE_BITS + SHOCK_BITS;
    signal paramsHashIn <== RiskParams(M, K, DELTA_BITS, SHOCK_BITS, IM_FACTOR_BITS,
                                       PENALTY_BITS, BP, EPOCH_BITS, FUND_BITS, SCALE_BITS)(
        imFactorBp, penaltyBp, dfFloor, dfShareBp, stressBp, skinCap, posLimit, shock,
        isPerp, isOption, expiry);
    paramsHash === paramsHashIn;
    signal markPrev <== MarkHash(M, PRICE_BITS)(pricePrev, fundPrev, isOption);
    signal pricesPrevHashIn <== Poseidon(2)([markPrev, riskPrev]);
    pricesPrevHash === pricesPrevHashIn;
    // Per instrument: settled (done) at and after its expiry epoch.
    signal noExpiry[M];
    signal early[M];
    signal live[M];
    signal liveOption[M];
    for (var m = 0; m < M; m++) {
        noExpiry[m] <== IsZero()(expiry[m]);
        // epoch, expiry < 2^EPOCH_BITS (range-checked): early = epoch < expiry
        early[m] <== LessThan(EPOCH_BITS)([epoch, expiry[m]]);
        // live = 1 - done, done = (expiry != 0) * (epoch >= expiry)
        live[m] <== 1 - (1 - noExpiry[m]) * (1 - early[m]);
        liveOption[m] <== isOption[m] * live[m];
    }
    signal mark <== MarkHash(M, PRICE_BITS)(price, fund, isOption);
    signal riskHash <== RiskArrays(M, K, ARRAY_BITS)(liveOption, riskArray);
    signal pricesHashIn <== Poseidon(2)([mark, riskHash]);
    pricesHash === pricesHashIn;

    // The risk array r[k][m] = isOption ? A[m][k] : -P * S[k][m] (|r| <= 2^ARRAY_BITS
    // either way; a settled option's row is 0, and so is its position).
    signal ps[K][M];
    signal linear[K][M];
    signal risk[K][M];
    for (var m = 0; m < M; m++) {
        for (var k = 0; k < K; k++) {
            ps[k][m] <== price[m] * shock[k][m];
            linear[k][m] <== (1 - isOption[m]) * ps[k][m];
            risk[k][m] <== riskArray[m][k] - linear[k][m];
        }
    }

    // Events: exactly the ones the contract accumulated, and what they say per slot.
    component acc = EventAccumulator(E);
    acc.kind <== evKind;
    acc.slot <== evSlot;
    acc.value <== evValue;
    acc.nEvents <== nEvents;
    eventsAcc === acc.acc;
    component ev = EventsByLayout(N, E, CASH_BITS);
    ev.kind <== evKind;
    ev.slot <== evSlot;
    ev.value <== evValue;
    ev.active <== acc.active;
    ev.eventsAcc <== acc.acc;
    ev.lay <== evLayout;

    // Old state: the leaves under oldRoot.
    signal oldLeaf[N];
    for (var i = 0; i < N; i++) {
        status[i] * (1 - status[i]) === 0;
        Unsigned(CASH_BITS)(df[i]);
        oldLeaf[i] <== Leaf(M)(c[i], q[i], df[i], vkh[i], status[i], nonce[i]);
    }
    df[0] === 0; // the house holds no contribution
    signal oldRootIn <== MerkleRoot(N)(oldLeaf);
    oldRoot === oldRootIn;

    // Step 1: membership (status' = status OR reg), keys and reports.
    signal statusNew[N];
    signal vkhNew[N];
    component open[N];
    component key[N];
    for (var i = 0; i < N; i++) {
        statusNew[i] <== status[i] + ev.reg[i] - status[i] * ev.reg[i];
        vkhNew[i] <== vkh[i] + ev.reg[i] * (ev.vkhNew[i] - vkh[i]);
        // Only members report, deposit or withdraw.
        (1 - statusNew[i]) * ev.commit[i] === 0;
        (1 - statusNew[i]) * ev.deposit[i] === 0;
        (1 - statusNew[i]) * ev.withdraw[i] === 0;
        open[i] = OpenReport(M, DELTA_BITS, CASH_BITS);
        open[i].commit <== ev.commit[i];
        open[i].delta <== delta[i];
        open[i].tradeCash <== tradeCash[i];
        open[i].salt <== salt[i];
        key[i] = SlotKey();
        key[i].commit <== ev.commit[i];
        key[i].blind <== blind[i];
        key[i].status <== statusNew[i];
        key[i].vkh <== vkhNew[i];
        key[i].epoch <== epoch;
        key[i].viewKey <== viewKey[i];
        open[i].hasReport <== key[i].hasReport;
        open[i].epochKey <== key[i].epochKey;
    }

    // Step 2: netting conserves positions and cash; old positions net to zero too.
    ColumnSumsAreZero(N, M)(delta);
    SumIsZero(N)(tradeCash);
    ColumnSumsAreZero(N, M)(q);

    // Step 3: mark to market at (P - Pprev) - (F - Fprev): variation margin and funding
    // (|dp| < 2^(PRICE_BITS+2) by the market checks); funding is 0 but for perpetuals
    // (the oracle's rule) and conserves anyway, positions netting to zero.
    signal dp[M];
    for (var m = 0; m < M; m++) {
        dp[m] <== price[m] - pricePrev[m] - (fund[m] - fundPrev[m]);
    }
    component mtm[N];
    for (var i = 0; i < N; i++) {
        mtm[i] = MarkToMarket(M, DELTA_BITS, CASH_BITS);
        mtm[i].c <== c[i];
        mtm[i].q <== q[i];
        mtm[i].dp <== dp;
        mtm[i].live <== live;
        mtm[i].delta <== delta[i];
        mtm[i].tradeCash <== tradeCash[i];
        mtm[i].deposit <== ev.deposit[i];
    }

    // The award: winner w >= 1 (a member) takes the lot qn_0 and pays bid = +-bidAbs.
    // The fields are range-checked, so the auction word has one decomposition.
    awarded * (1 - awarded) === 0;
    bidNeg * (1 - bidNeg) === 0;
    Unsigned(FUND_BITS)(bidAbs);
    signal recvAll <== bidNeg * bidAbs; // the house pays a negative bid
    signal payAll <== bidAbs - recvAll;
    component isWinner = Decoder(N);
    isWinner.inp <== winner;
    isWinner.success === 1;
    isWinner.out[0] * awarded === 0; // the house never wins its own lot
    signal win[N];
    signal winPay[N];
    signal winRecv[N];
    signal winLot[N][M];
    win[0] <== 0;
    winPay[0] <== 0;
    winRecv[0] <== 0;
    for (var m = 0; m < M; m++) {
        winLot[0][m] <== 0;
    }
    for (var i = 1; i < N; i++) {
        win[i] <== isWinner.out[i] * awarded;
        (1 - statusNew[i]) * win[i] === 0; // only a member wins
        winPay[i] <== win[i] * payAll;
        winRecv[i] <== win[i] * recvAll;
        for (var m = 0; m < M; m++) {
            winLot[i][m] <== win[i] * mtm[0].qn[m];
        }
    }

    // Steps 4-7 for members: margin, the default-fund call (scale = max(dfShareBp,
    // dfScale)), liquidation, penalty and the defaulter's own layer.
    Unsigned(SCALE_BITS)(dfScale);
    signal scale <== SignedMax(SCALE_BITS + 1)(dfShareBp, dfScale);
    var MM_BITS = mmBits(LOSS_BITS, BP);
    var ST_BITS = ceilDivBits(MM_BITS + SCALE_BITS, BP);
    var VM_BITS = DELTA_BITS + PRICE_BITS + 2 + 8;
    var REQ_BITS = CASH_BITS - 5; // req < max(2^FUND_BITS, 2^(ST_BITS + SCALE_BITS - 13))
    assert(FUND_BITS <= REQ_BITS && ceilDivBits(ST_BITS + SCALE_BITS, BP) <= REQ_BITS);
    component step[N];
    signal qNew[N][M];
    // The house keeps its lot unless it is awarded; a liquidated winner returns it (qa).
    signal houseKeep[M];
    var houseQ[M];
    for (var m = 0; m < M; m++) {
        houseKeep[m] <== mtm[0].qn[m] * (1 - awarded);
        houseQ[m] = houseKeep[m];
    }
    var liqMask[W];
    var grantMask[W];
    for (var w = 0; w < W; w++) {
        liqMask[w] = 0;
        grantMask[w] = 0;
    }
    var lotMM = 0;
    var sold = 0;
    signal liqMM[N];
    signal liqWin[N];
    liqMM[0] <== 0;
    liqWin[0] <== 0;
    for (var i = 1; i < N; i++) {
        step[i] = MemberStep(M, K, DELTA_BITS, CASH_BITS, ARRAY_BITS, LOSS_BITS,
                             IM_FACTOR_BITS, PENALTY_BITS, BP, FUND_BITS, SCALE_BITS, VM_BITS);
        step[i].cpre <== mtm[i].cpre;
        step[i].q <== q[i];
        step[i].qn <== mtm[i].qn;
        step[i].vm <== mtm[i].vm;
        step[i].risk <== risk;
        step[i].posLimit <== posLimit;
        step[i].imFactorBp <== imFactorBp;
        step[i].penaltyBp <== penaltyBp;
        step[i].stressBp <== stressBp;
        step[i].scale <== scale;
        step[i].dfFloor <== dfFloor;
        step[i].member <== statusNew[i];
        step[i].df <== df[i];
        step[i].lot <== winLot[i];
        step[i].pay <== winPay[i];
        qNew[i] <== step[i].qNew;
        for (var m = 0; m < M; m++) {
            houseQ[m] += step[i].toHouseQ[m];
        }
        liqMask[i \ MASK_BITS] += step[i].liq * (1 << (i % MASK_BITS));
        liqMM[i] <== step[i].liq * step[i].mm;
        lotMM += liqMM[i];
        liqWin[i] <== step[i].liq * win[i];
        sold += win[i] - liqWin[i];
    }
    // The lot's sale: B = sold * bid (sold = an award whose winner survives, a bit);
    // its gain goes to the house, its loss through the waterfall.
    signal soldAbs <== sold * bidAbs;
    signal saleLoss <== bidNeg * soldAbs;

    // The waterfall (slot 0, the house, contributes zeros).
    component wf = Waterfall(N, CASH_BITS, REQ_BITS, VM_BITS);
    signal reqSurv[N];
    wf.shortfall[0] <== 0;
    wf.own[0] <== 0;
    wf.pen[0] <== 0;
    wf.gain[0] <== 0;
    reqSurv[0] <== 0;
    for (var i = 1; i < N; i++) {
        wf.shortfall[i] <== step[i].shortfall;
        wf.own[i] <== step[i].own;
        wf.pen[i] <== step[i].pen;
        wf.gain[i] <== step[i].gain;
        reqSurv[i] <== step[i].surv * step[i].held;
    }
    wf.reqSurv <== reqSurv;
    wf.cpreHouse <== mtm[0].cpre;
    wf.skinCap <== skinCap;
    wf.saleGain <== soldAbs - saleLoss;
    wf.saleLoss <== saleLoss;

    // The house (never liquidated, never withdraws) takes over liquidated positions at
    // the mark; its cash is the waterfall's: it may go negative when every layer is spent
    // (docs/protocol.md), but stays a cash amount and its positions stay in range.
    signal cNew[N];
    signal dfNew[N];
    signal granted[N];
    signal paid[N];
    cNew[0] <== wf.house;
    dfNew[0] <== 0;
    signal houseNeg <== SignBit(CASH_BITS)(cNew[0]);
    // Steps 6 and 8, pool rule: no withdrawal is granted while the house is negative, so
    // the pool total never goes negative and an under-water house cannot be drained.
    component settle[N];
    var paidTotal = 0;
    granted[0] <== 0;
    paid[0] <== 0;
    for (var i = 1; i < N; i++) {
        settle[i] = MemberSettle(CASH_BITS);
        settle[i].e <== step[i].e;
        settle[i].ePos <== step[i].ePos;
        settle[i].pen <== step[i].pen;
        settle[i].liq <== step[i].liq;
        settle[i].held <== step[i].held;
        settle[i].callMet <== step[i].callMet;
        settle[i].own <== step[i].own;
        settle[i].u <== wf.u[i];
        settle[i].y <== wf.y[i];
        settle[i].im <== step[i].im;
        settle[i].withdraw <== ev.withdraw[i];
        settle[i].houseNeg <== houseNeg;
        settle[i].recv <== winRecv[i];
        granted[i] <== settle[i].granted;
        paid[i] <== settle[i].paid;
        cNew[i] <== settle[i].cNew;
        dfNew[i] <== settle[i].dfNew;
        grantMask[i \ MASK_BITS] += granted[i] * (1 << (i % MASK_BITS));
        paidTotal += paid[i];
    }
    for (var m = 0; m < M; m++) {
        qNew[0][m] <== houseQ[m];
    }
    SignedRangeArray(M, DELTA_BITS)(qNew[0]);
    // houseFlat: the house holds no position after the epoch (no auction follows).
    signal houseZero[M];
    signal flatUpTo[M];
    for (var m = 0; m < M; m++) {
        houseZero[m] <== IsZero()(qNew[0][m]);
        if (m == 0) {
            flatUpTo[m] <== houseZero[0];
        } else {
            flatUpTo[m] <== flatUpTo[m - 1] * houseZero[m];
        }
    }
    // The liq and granted bits are booleans, so each mask has one decomposition.
    for (var w = 0; w < W; w++) {
        liquidatedMask[w] === liqMask[w];
        grantedMask[w] === grantMask[w];
    }

    // Cover-2 on the new values.
    component cover = Cover2(N, ST_BITS, CASH_BITS, SCALE_BITS, BP);
    cover.stress[0] <== 0;
    cover.surv[0] <== 0;
    for (var i = 1; i < N; i++) {
        cover.stress[i] <== step[i].stress;
        cover.surv[i] <== step[i].surv;
    }
    cover.c <== cNew;
    cover.df <== dfNew;
    cover.skinCap <== skinCap;

    // The default fund's public words; each field is range-checked (one decomposition).
    Unsigned(LAYER_BITS)(wf.O);
    Unsigned(LAYER_BITS)(wf.hUse);
    Unsigned(LAYER_BITS)(wf.fUse);
    Unsigned(LAYER_BITS)(wf.hcUse);
    Unsigned(LAYER_BITS)(wf.F);
    Unsigned(LAYER_BITS)(wf.G);
    fundInfo === dfScale + cover.scaleNext * (1 << SCALE_BITS) + cover.met * (1 << (2 * SCALE_BITS))
        + rho * (1 << (2 * SCALE_BITS + 1));
    layersA === wf.O + wf.hUse * (1 << LAYER_BITS);
    layersB === wf.fUse + wf.hcUse * (1 << LAYER_BITS);
    fundTotals === wf.F + wf.G * (1 << LAYER_BITS);
    // winner < N <= 2^8; lotMM < N * 2^MM_BITS <= 2^(MM_BITS + 8): the word stays below 2^252.
    assert(11 + FUND_BITS + MM_BITS + 8 <= 252);
    auction === awarded + 2 * bidNeg + 4 * winner + bidAbs * (1 << 10)
        + flatUpTo[M - 1] * (1 << (10 + FUND_BITS)) + lotMM * (1 << (11 + FUND_BITS));

    // Step 9: positions still net to zero; total collateral = old total + deposits - paid
    // (the proof of reserves the contract checks against its token balance).
    ColumnSumsAreZero(N, M)(qNew);
    var total = 0;
    var totalOld = 0;
    var deposits = 0;
    for (var i = 0; i < N; i++) {
        total += cNew[i] + dfNew[i];
        totalOld += c[i] + df[i];
        deposits += ev.deposit[i];
    }
    totalCollateral === total;
    total === totalOld + deposits - paidTotal;

    // The new state under newRoot, with the nonces SlotKey derived.
    signal newLeaf[N];
    for (var i = 0; i < N; i++) {
        newLeaf[i] <== Leaf(M)(cNew[i], qNew[i], dfNew[i], vkhNew[i], statusNew[i], key[i].nonce);
    }
    signal newRootIn <== MerkleRoot(N)(newLeaf);
    newRoot === newRootIn;

    // Exit data D = (newLeaf[0..N-1], cNew[0], liquidatedMask[0..W-1], grantedMask[0..W-1]):
    // exitSum = sum_j D[j] * rho^j (Horner). The contract derives rho from the D it was
    // given and newRoot, so a published D that differs from the real one passes with
    // probability <= (N + 2W) / 2^RHO_BITS.
    var L = N + 1 + 2 * W;
    signal horner[L];
    horner[L - 1] <== grantedMask[W - 1];
    for (var j = L - 2; j >= 0; j--) {
        var dj;
        if (j < N) {
            dj = newLeaf[j];
        } else if (j == N) {
            dj = cNew[0];
        } else if (j < N + 1 + W) {
            dj = liquidatedMask[j - N - 1];
        } else {
            dj = grantedMask[j - N - 1 - W];
        }
        horner[j] <== horner[j + 1] * rho + dj;
    }
    exitSum === horner[0];

    // The packed public signals. Each field is range-checked, so each word has exactly
    // one decomposition: epoch < 2^EPOCH_BITS, nEvents <= E < 2^N_EVENTS_BITS (the
    // accumulator's prefix mask), 0 <= totalCollateral < 2^TOTAL_BITS (the contract holds
    // it as an unsigned amount), rho < 2^RHO_BITS (the mask words are sums of bits, above).
    Unsigned(EPOCH_BITS)(epoch);
    Unsigned(TOTAL_BITS)(totalCollateral);
    Unsigned(RHO_BITS)(rho);
    epochInfo === epoch + nEvents * (1 << EPOCH_BITS) + totalCollateral * (1 << (EPOCH_BITS + N_EVENTS_BITS));
}
