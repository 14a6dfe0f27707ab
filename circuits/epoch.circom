pragma circom 2.1.0;

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
               RHO_BITS) {
    // Both masks (N bits each) and the exit-data challenge share one field element; N is
    // a power of two (Merkle).
    assert(N >= 2 && 2 * N + RHO_BITS <= 252);
    assert(E < (1 << N_EVENTS_BITS) && EPOCH_BITS + N_EVENTS_BITS + TOTAL_BITS <= 252);
    // Public (clearing/public.py): the small values are packed, so the verifier pays for
    // 9 public inputs instead of 13:
    //   epochInfo = epoch + nEvents * 2^EPOCH_BITS + totalCollateral * 2^(EPOCH_BITS + N_EVENTS_BITS)
    //   outcome   = liquidatedMask + grantedMask * 2^N + rho * 2^(2N)
    //   exitSum   = sum_j D[j] * rho^j, D = (new leaves, house collateral): the exit data
    //               the contract receives in calldata and derives rho from (Fiat-Shamir).
    signal input oldRoot;
    signal input newRoot;
    signal input epochInfo;
    signal input paramsHash;
    signal input pricesPrevHash;
    signal input pricesHash;
    signal input eventsAcc;
    signal input outcome;
    signal input exitSum;
    // private: the values the packed signals carry (unpacked and range-checked below)
    signal input epoch;
    signal input nEvents;
    signal input liquidatedMask;
    signal input grantedMask;
    signal input totalCollateral;
    signal input rho;
    // private: parameters, prices, events
    signal input imFactorBp;
    signal input penaltyBp;
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
    // private: old leaves, reports, view keys
    signal input c[N];
    signal input q[N][M];
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
                                       PENALTY_BITS, BP, EPOCH_BITS)(
        imFactorBp, penaltyBp, posLimit, shock, isPerp, isOption, expiry);
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
    component ev = EventsPerSlot(N, E, CASH_BITS);
    ev.kind <== evKind;
    ev.slot <== evSlot;
    ev.value <== evValue;
    ev.active <== acc.active;

    // Old state: the leaves under oldRoot.
    signal oldLeaf[N];
    for (var i = 0; i < N; i++) {
        status[i] * (1 - status[i]) === 0;
        oldLeaf[i] <== Leaf(M)(c[i], q[i], vkh[i], status[i], nonce[i]);
    }
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

    // Steps 4-8 for members.
    component step[N];
    signal cNew[N];
    signal granted[N];
    signal paid[N];
    signal qNew[N][M];
    var houseC = mtm[0].cpre;
    var houseQ[M];
    for (var m = 0; m < M; m++) {
        houseQ[m] = mtm[0].qn[m];
    }
    var liqMask = 0;
    for (var i = 1; i < N; i++) {
        step[i] = MemberStep(M, K, DELTA_BITS, CASH_BITS, ARRAY_BITS, LOSS_BITS,
                             IM_FACTOR_BITS, PENALTY_BITS, BP);
        step[i].cpre <== mtm[i].cpre;
        step[i].cpreNeg <== mtm[i].cpreNeg;
        step[i].q <== q[i];
        step[i].qn <== mtm[i].qn;
        step[i].risk <== risk;
        step[i].posLimit <== posLimit;
        step[i].imFactorBp <== imFactorBp;
        step[i].penaltyBp <== penaltyBp;
        step[i].withdraw <== ev.withdraw[i];
        qNew[i] <== step[i].qNew;
        houseC += step[i].toHouse;
        for (var m = 0; m < M; m++) {
            houseQ[m] += step[i].toHouseQ[m];
        }
        liqMask += step[i].liq * (1 << i);
    }
    // The house (never liquidated, never withdraws) takes over liquidated positions at
    // the mark, penalties in and shortfalls out; it may go negative (docs/protocol.md),
    // but stays a cash amount and its positions stay in range.
    cNew[0] <== houseC;
    signal houseNeg <== SignBit(CASH_BITS)(cNew[0]);
    // Step 6, pool rule: no withdrawal is granted while the house is negative, so the
    // pool total never goes negative and an under-water house cannot be drained.
    var grantMask = 0;
    var paidTotal = 0;
    granted[0] <== 0;
    paid[0] <== 0;
    for (var i = 1; i < N; i++) {
        granted[i] <== step[i].eligible * (1 - houseNeg);
        paid[i] <== granted[i] * ev.withdraw[i];
        cNew[i] <== step[i].cRest - paid[i];
        grantMask += granted[i] * (1 << i);
        paidTotal += paid[i];
    }
    for (var m = 0; m < M; m++) {
        qNew[0][m] <== houseQ[m];
    }
    SignedRangeArray(M, DELTA_BITS)(qNew[0]);
    // The liq and granted bits are booleans, so each mask has one decomposition.
    liquidatedMask === liqMask;
    grantedMask === grantMask;

    // Step 9: positions still net to zero; total collateral = old total + deposits - paid
    // (the proof of reserves the contract checks against its token balance).
    ColumnSumsAreZero(N, M)(qNew);
    var total = 0;
    var totalOld = 0;
    var deposits = 0;
    for (var i = 0; i < N; i++) {
        total += cNew[i];
        totalOld += c[i];
        deposits += ev.deposit[i];
    }
    totalCollateral === total;
    total === totalOld + deposits - paidTotal;

    // The new state under newRoot, with the nonces SlotKey derived.
    signal newLeaf[N];
    for (var i = 0; i < N; i++) {
        newLeaf[i] <== Leaf(M)(cNew[i], qNew[i], vkhNew[i], statusNew[i], key[i].nonce);
    }
    signal newRootIn <== MerkleRoot(N)(newLeaf);
    newRoot === newRootIn;

    // Exit data D = (newLeaf[0..N-1], cNew[0]): exitSum = sum_j D[j] * rho^j (Horner).
    // The contract derives rho from the D it was given and newRoot, so a published D
    // that differs from the real one passes with probability <= N / 2^RHO_BITS.
    signal horner[N + 1];
    horner[N] <== cNew[0];
    for (var j = N - 1; j >= 0; j--) {
        horner[j] <== horner[j + 1] * rho + newLeaf[j];
    }
    exitSum === horner[0];

    // The packed public signals. Each field is range-checked, so each word has exactly
    // one decomposition: epoch < 2^EPOCH_BITS, nEvents <= E < 2^N_EVENTS_BITS (the
    // accumulator's prefix mask), 0 <= totalCollateral < 2^TOTAL_BITS (the contract holds
    // it as an unsigned amount), masks < 2^N (sums of N bits, above), rho < 2^RHO_BITS.
    Unsigned(EPOCH_BITS)(epoch);
    Unsigned(TOTAL_BITS)(totalCollateral);
    Unsigned(RHO_BITS)(rho);
    epochInfo === epoch + nEvents * (1 << EPOCH_BITS) + totalCollateral * (1 << (EPOCH_BITS + N_EVENTS_BITS));
    outcome === liquidatedMask + grantedMask * (1 << N) + rho * (1 << (2 * N));
}
