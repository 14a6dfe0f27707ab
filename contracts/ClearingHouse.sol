// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {Governed} from "./base/Governed.sol";
import {PoseidonHasher} from "./base/PoseidonHasher.sol";
import {EpochLog} from "./base/EpochLog.sol";
import {MemberRegistry} from "./base/MemberRegistry.sol";
import {InstrumentTable} from "./base/InstrumentTable.sol";
import {RiskParameters} from "./base/RiskParameters.sol";
import {LotAuction} from "./LotAuction.sol";
import {ExitLeaves} from "./ExitLeaves.sol";
import {Signatures} from "./base/Signatures.sol";
import {Instrument} from "./interfaces/IInstruments.sol";
import {IClearingHouse} from "./interfaces/IClearingHouse.sol";
import {IEpochVerifier, EPOCH_PUBLIC_INPUTS} from "./interfaces/IEpochVerifier.sol";
import {IERC20} from "./interfaces/IERC20.sol";
import {IPriceOracle} from "./interfaces/IPriceOracle.sol";

/// @title zkclear's clearing house: where a proven epoch becomes final.
/// @notice Members deposit collateral and request withdrawals; each is an event of the open
/// epoch (EpochLog). Members sign their report commitments; the operator posts them when it
/// closes the epoch (closeEpoch checks each signature), clears it off-chain
/// and proves it with the epoch circuit; `submitEpoch` accepts the new state root only if
/// every public input equals what this contract knows -- current root, next epoch number,
/// the parameters frozen at close, the oracle's final prices of the previous and this
/// epoch, the frozen events accumulator and count, withdrawal grants only for requested
/// withdrawals, total collateral = previous total + deposits - granted withdrawals -- and
/// the Groth16 proof verifies. It then moves the root, credits granted withdrawals to
/// `claimable` (claim() transfers them) and checks that the token balance still covers all
/// collateral and credits (a proof of reserves per epoch).
/// Liveness (docs/protocol.md, "Liveness"): a withdrawal request of an unaccepted epoch
/// older than the governed withdrawalTimeout lets anyone freeze() the pool; frozen, every
/// slot exits with its leaf of the last accepted state (checked against the published exit
/// data) plus its pending deposits, pro rata if the house is negative.
/// Gas does not grow with N or M: per-slot data reaches the proof through the accumulator;
/// only granted withdrawals and liquidations cost per slot (one credit or event each).
contract ClearingHouse is IClearingHouse, MemberRegistry, RiskParameters {
    struct Config {
        address governance;
        address[6] poseidons;
        address collateral;
        address oracle;
        address verifier;
        address exitLeaves; // ExitLeaves of nSlots and nInstruments over the same Poseidons
        address operator;
        uint256 nSlots;
        uint256 nInstruments;
        uint256 nScenarios;
        Instrument[] instruments;
        uint256 maxEvents;
        address houseAccount;
        uint256 houseVkh;
        uint256 imFactorBp;
        uint256 penaltyBp;
        uint256[4] fund; // dfFloor, dfShareBp, stressBp, skinCap
        uint256[] positionLimits;
        int256[] shocks;
        uint256 withdrawalTimeout;
        uint256 auctionReserveBp;
        uint256 auctionWindow;
    }

    /// Gas left before calling the verifier: below this it could run out of gas inside a
    /// precompile and answer false (read as an invalid proof). ~269k are used for 13 inputs.
    uint256 private constant MIN_VERIFY_GAS = 400_000;
    /// Bounds of the governed withdrawal timeout (seconds).
    uint256 private constant MIN_WITHDRAWAL_TIMEOUT = 60;
    uint256 private constant MAX_WITHDRAWAL_TIMEOUT = 365 days;
    /// Gas given to the token's transferFrom of a posted deposit: a token callback cannot
    /// spend more of closeEpoch's gas (it fails that pull, which is skipped).
    uint256 public constant PULL_GAS = 100_000;
    /// DepositSkipped reasons.
    uint256 private constant SKIP_PULL_FAILED = 1;
    uint256 private constant SKIP_ALREADY_DEPOSITED = 2;

    IERC20 public immutable collateral;
    IPriceOracle public immutable oracle;
    IEpochVerifier public immutable verifier;
    /// The auction of the house's lot (docs/protocol.md), created here.
    LotAuction public immutable auction;
    /// The leaf check of exits after a freeze, created here (its own contract for size).
    ExitLeaves public immutable exitLeaves;
    address public operator;

    uint256 public stateRoot;
    uint256 public immutable genesisRoot;
    /// keccak256(abi.encode(exitData)) of the last accepted epoch (set by submitEpoch).
    bytes32 public lastExitDataHash;

    /// The scalars every submitEpoch reads and most of them writes, packed into one
    /// storage word (64 + 128 + 16 + 8 + 40 = 256 bits): one cold read and one write per
    /// epoch instead of five reads and three or four writes. Their getters below keep
    /// the public interface.
    struct Accepted {
        uint64 epoch; // the last accepted epoch (epochInfo's EPOCH_BITS field)
        /// Sum of all leaves' collateral after the last accepted epoch (below
        /// 2^TOTAL_BITS: the circuit range-checks epochInfo's field).
        uint128 total;
        /// The default fund's scale of the next epoch (bp of a member's stress loss), set
        /// by each accepted epoch's proof (docs/protocol.md, "Default fund"); 0 at genesis.
        uint16 dfScale;
        bool frozen;
        /// When the house's collateral (the insurance fund) went negative in an accepted
        /// epoch, 0 while it is not: see freeze().
        uint40 houseNegativeSince;
    }

    Accepted private _acc;

    /// Credited payouts (granted withdrawals, exits), transferred by claim().
    mapping(address => uint256) public claimable;
    uint256 public totalClaimable;
    /// A withdrawal request older than this (seconds) in an unaccepted epoch lets anyone freeze.
    uint256 public withdrawalTimeout;
    mapping(uint256 => bool) public exited;
    /// Set while closeEpoch pulls posted deposits: a token callback into the pool
    /// (deposit, request, freeze, claim ...) is refused (ClosingEpoch).
    bool private transient _pulling;

    /// The last accepted epoch's packed scalars (see Accepted), in one call.
    function accepted()
        external
        view
        returns (uint256 epoch, uint256 total, uint256 dfScale, bool frozen_, uint256 houseNegativeSince)
    {
        Accepted memory acc = _acc;
        return (acc.epoch, acc.total, acc.dfScale, acc.frozen, acc.houseNegativeSince);
    }

    /// Frozen (see freeze()): no deposit, request, close or epoch; exits only.
    function frozen() external view returns (bool) {
        return _acc.frozen;
    }

    constructor(Config memory cfg)
        Governed(cfg.governance)
        PoseidonHasher(cfg.poseidons)
        EpochLog(cfg.nSlots, cfg.nInstruments, cfg.nScenarios, cfg.maxEvents)
        MemberRegistry(cfg.houseAccount, cfg.houseVkh)
        InstrumentTable(cfg.instruments)
        RiskParameters(cfg.imFactorBp, cfg.penaltyBp, cfg.fund, cfg.positionLimits, cfg.shocks)
    {
        if (cfg.collateral.code.length == 0) revert NotAContract(cfg.collateral);
        if (cfg.verifier.code.length == 0) revert NotAContract(cfg.verifier);
        if (cfg.oracle.code.length == 0) revert NotAContract(cfg.oracle);
        uint256 oracleM = IPriceOracle(cfg.oracle).nInstruments();
        if (oracleM != cfg.nInstruments) revert OracleMismatch(oracleM, cfg.nInstruments);
        bytes32 oracleTable = IPriceOracle(cfg.oracle).instrumentsHash();
        if (oracleTable != instrumentsHash) revert InstrumentsMismatch(instrumentsHash, oracleTable);
        collateral = IERC20(cfg.collateral);
        oracle = IPriceOracle(cfg.oracle);
        verifier = IEpochVerifier(cfg.verifier);
        _setOperator(cfg.operator);
        exitLeaves = ExitLeaves(cfg.exitLeaves);
        if (cfg.exitLeaves.code.length == 0) revert NotAContract(cfg.exitLeaves);
        if (exitLeaves.nSlots() != cfg.nSlots || exitLeaves.nInstruments() != cfg.nInstruments) {
            revert ExitLeavesMismatch(cfg.exitLeaves);
        }
        auction = new LotAuction(cfg.governance, cfg.auctionReserveBp, cfg.auctionWindow, cfg.withdrawalTimeout);
        _setWithdrawalTimeout(cfg.withdrawalTimeout);
        uint256 root = _genesisRoot(cfg.houseVkh);
        genesisRoot = root;
        stateRoot = root;
    }

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    function setOperator(address operator_) external onlyGovernance {
        _setOperator(operator_);
    }

    function setWithdrawalTimeout(uint256 timeout) external onlyGovernance {
        _setWithdrawalTimeout(timeout);
    }

    // --- members ---------------------------------------------------------------------

    /// Deposit `amount` collateral tokens (approved to this contract beforehand): the
    /// member's own path, always open; the operator may also post a signed deposit with
    /// closeEpoch (cheaper, one per slot and epoch either way).
    function deposit(uint256 amount) external {
        _notFrozen();
        uint256 slot = slotOf(msg.sender);
        _checkAmount(amount);
        uint256 epoch = openEpoch;
        _setDeposit(epoch, slot, amount);
        _epochs[epoch].deposits += uint128(amount);
        _record(KIND_DEPOSIT, slot, amount);
        _pull(msg.sender, amount);
    }

    /// Ask for `amount` back; the epoch proof grants it only if the slot still meets its
    /// initial margin afterwards, and submitEpoch credits it then (claim() pays it).
    /// A removed member may still ask. The epoch's first request starts the clock of
    /// freeze().
    function requestWithdrawal(uint256 amount) external {
        _notFrozen();
        uint256 slot = _anySlotOf(msg.sender);
        if (slot == HOUSE) revert HouseCannotWithdraw();
        _checkAmount(amount);
        uint256 epoch = openEpoch;
        SlotEpoch storage se = _slotEpochs[epoch][slot];
        if (se.withdrawal != 0) revert AlreadyRequested(epoch, slot);
        se.withdrawal = uint128(amount);
        EpochData storage ep = _epochs[epoch];
        ep.withdrawMask |= 1 << slot;
        if (ep.firstRequestAt == 0) ep.firstRequestAt = uint64(block.timestamp);
        _record(KIND_WITHDRAW, slot, amount);
    }

    /// Transfer everything credited to the caller. A token that refuses the transfer
    /// reverts this claim only.
    function claim() external {
        if (_pulling) revert ClosingEpoch();
        uint256 amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        _push(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    // --- epochs ----------------------------------------------------------------------

    /// Post the members' signed deposits, then their signed commitments, and freeze the
    /// open epoch for proving; later events go to the next epoch. Only one closed epoch
    /// may wait for its proof at a time. Each deposit is signed (EIP-191) by the slot's
    /// account over depositDigest, each commit over commitDigest; `excludedMask` names the
    /// slots closed without their report (suspended next epoch).
    function closeEpoch(Commit[] calldata commits, Deposit[] calldata deposits, uint256 excludedMask)
        external
        onlyOperator
    {
        _notFrozen();
        uint256 lastEpoch = _acc.epoch;
        if (openEpoch != lastEpoch + 1) revert EpochPending(lastEpoch + 1);
        uint256 epoch = openEpoch;
        if (deposits.length != 0) _postDeposits(epoch, deposits);
        uint256 suspended = _epochs[epoch - 1].excludedMask;
        uint256 committed = 0;
        for (uint256 i = 0; i < commits.length; i++) {
            committed |= _postCommit(epoch, suspended, committed, commits[i]);
        }
        if (excludedMask >> nSlots != 0 || excludedMask & (1 << HOUSE) != 0 || excludedMask & committed != 0) {
            revert InvalidExcludedMask(excludedMask);
        }
        _epochs[epoch].excludedMask = excludedMask;
        for (uint256 bits = excludedMask; bits != 0; bits &= bits - 1) {
            emit ReportExcluded(epoch, _lowestBit(bits));
        }
        auction.closeAuction(epoch); // refused while the epoch's auction runs
        _closeEpoch(paramsHash);
    }

    /// The EIP-191 digest a slot's account signs for its deposit of `amount` in `epoch`.
    function _depositDigest(uint256 epoch, uint256 slot, uint256 amount) private view returns (bytes32) {
        return Signatures.eip191(
            keccak256(abi.encode("zkclear-deposit-v1", block.chainid, address(this), epoch, slot, amount))
        );
    }

    // --- freeze and exit ---------------------------------------------------------------

    /// Anyone may freeze the pool once a withdrawal request of an unaccepted epoch is
    /// older than withdrawalTimeout. Frozen: no deposit, request, close or epoch; exits only.
    function freeze() external {
        _notFrozen();
        uint256 deadlineOf = withdrawalTimeout;
        // A house under water for longer than the timeout: no withdrawal can be granted
        // (the pool rule of step 6), so every member's money would be stuck; freezing lets
        // everyone exit with the published pro-rata haircut instead.
        uint256 since = _acc.houseNegativeSince;
        uint256 lastEpoch = _acc.epoch;
        (uint256 epoch, uint256 t) = (lastEpoch, since);
        if (since == 0 || block.timestamp < since + deadlineOf) {
            // The oldest withdrawal request of an unaccepted epoch, if any.
            t = 0;
            for (epoch = lastEpoch + 1; epoch <= openEpoch; epoch++) {
                t = _epochs[epoch].firstRequestAt;
                if (t != 0) break;
            }
            if (t == 0) {
                if (since != 0) revert FreezeTooEarly(lastEpoch, since + deadlineOf);
                revert NothingToForce();
            }
            if (block.timestamp < t + deadlineOf) revert FreezeTooEarly(epoch, t + deadlineOf);
        }
        _acc.frozen = true;
        emit Frozen(epoch, t);
    }

    /// After a freeze, credit `slot`'s account with its collateral and default-fund
    /// contribution in the last accepted state (its leaf, opened against the published exit
    /// data; pro rata if the house is negative) plus its deposits of the unaccepted epochs.
    /// Anyone may call it.
    function exit(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh,
                  uint256 nonce, uint256[] calldata exitData) external {
        if (!_acc.frozen) revert NotFrozen();
        if (slot >= nSlots) revert SlotOutOfRange(slot, nSlots);
        if (slot == HOUSE) revert HouseCannotExit();
        if (exited[slot]) revert AlreadyExited(slot);
        if (members[slot].account == address(0)) revert NotRegistered(slot);
        uint256 amount = 0;
        bool haircut = false;
        if (_hasLeaf(slot)) {
            (amount, haircut) =
                exitLeaves.leafAmount(slot, c, q, df, vkh, nonce, exitData,
                                      [uint256(lastExitDataHash), _acc.total]);
        }
        amount += _pendingDeposits(slot);
        exited[slot] = true;
        address account = members[slot].account;
        _credit(account, amount);
        _checkCredits();
        emit Exited(slot, account, amount, haircut);
    }

    /// After a freeze, credit the house account with the house's collateral, if positive,
    /// plus its deposits of the unaccepted epochs (governance only, once).
    function exitHouse(uint256[] calldata exitData) external onlyGovernance {
        if (!_acc.frozen) revert NotFrozen();
        if (exited[HOUSE]) revert AlreadyExited(HOUSE);
        uint256 amount = 0;
        if (_acc.epoch != 0) {
            int256 c0 = exitLeaves.houseCollateral(exitData, lastExitDataHash);
            if (c0 > 0) amount = uint256(c0);
        }
        amount += _pendingDeposits(HOUSE);
        exited[HOUSE] = true;
        address account = members[HOUSE].account;
        _credit(account, amount);
        _checkCredits();
        emit Exited(HOUSE, account, amount, false);
    }

    /// Accept the epoch in `publicInputs[PUB_EPOCH_INFO]` if every public input matches
    /// this contract's state and the proof verifies (named error otherwise). `exitData`
    /// is the epoch's exit data D (docs/protocol.md, "Freeze and escape"): the proof shows
    /// that it is exactly the new leaves and the house's collateral.
    function submitEpoch(Proof calldata proof, uint256[EPOCH_PUBLIC_INPUTS] calldata publicInputs,
                         uint256[] calldata exitData) external {
        _notFrozen();
        Accepted memory acc = _acc;
        uint256 info = publicInputs[PUB_EPOCH_INFO];
        uint256 epoch = info & ((1 << EPOCH_BITS) - 1);
        _checkPublicInputs(epoch, acc.epoch, info, publicInputs);
        // The epoch was cleared with this contract's dfScale (fundInfo's low bits).
        uint256 fundInfo = publicInputs[PUB_FUND_INFO];
        uint256 scale = fundInfo & ((1 << SCALE_BITS) - 1);
        if (scale != acc.dfScale) revert DfScaleMismatch(scale, acc.dfScale);
        auction.checkAward(epoch, publicInputs[PUB_AUCTION]);
        (uint256 liquidated, uint256 granted) = exitLeaves.checkExitData(
            epoch, publicInputs[PUB_NEW_ROOT], fundInfo >> (2 * SCALE_BITS + 1),
            publicInputs[PUB_EXIT_SUM], exitData
        );
        uint256 newTotal = _checkOutcome(epoch, info, acc.total, liquidated, granted);
        if (gasleft() < MIN_VERIFY_GAS) revert InsufficientGas(gasleft(), MIN_VERIFY_GAS);
        if (!verifier.verifyProof(proof.a, proof.b, proof.c, publicInputs)) revert InvalidProof();

        uint256 oldRoot = stateRoot;
        stateRoot = publicInputs[PUB_NEW_ROOT];
        lastExitDataHash = keccak256(abi.encode(exitData));
        acc.epoch = uint64(epoch); // below 2^EPOCH_BITS (a mask above)
        acc.total = uint128(newTotal); // below 2^TOTAL_BITS: range-checked by the proof
        acc.dfScale = uint16((fundInfo >> SCALE_BITS) & ((1 << SCALE_BITS) - 1));
        // The house's collateral is the last exit-data word (signed mod r): record since
        // when it has been negative (freeze() may be called once that is older than the
        // withdrawal timeout).
        if (exitData[nSlots] > FIELD_R / 2) {
            if (acc.houseNegativeSince == 0) acc.houseNegativeSince = uint40(block.timestamp);
        } else {
            acc.houseNegativeSince = 0;
        }
        _acc = acc;
        emit EpochAccepted(epoch, oldRoot, stateRoot, liquidated, granted, newTotal);
        emit ExitDataPublished(epoch, exitData);
        _acceptFund(epoch, publicInputs);
        auction.acceptEpoch(epoch, publicInputs[PUB_AUCTION], liquidated, openEpoch);

        for (uint256 bits = liquidated; bits != 0; bits &= bits - 1) {
            emit Liquidated(epoch, _lowestBit(bits));
        }
        uint256 refused = _epochs[epoch].withdrawMask & ~granted;
        for (uint256 bits = refused; bits != 0; bits &= bits - 1) {
            uint256 slot = _lowestBit(bits);
            emit WithdrawalRefused(epoch, slot, _slotEpochs[epoch][slot].withdrawal);
        }
        for (uint256 bits = granted; bits != 0; bits &= bits - 1) {
            uint256 slot = _lowestBit(bits);
            uint256 amount = _slotEpochs[epoch][slot].withdrawal;
            address to = members[slot].account;
            _credit(to, amount); // pulled with claim()
            emit WithdrawalPaid(epoch, slot, to, amount);
        }
        // Proof of reserves: the tokens held cover every leaf's collateral, the deposits
        // already made into the next, open epoch and every credited payout.
        uint256 required = newTotal + _epochs[epoch + 1].deposits + totalClaimable;
        uint256 balance = collateral.balanceOf(address(this));
        if (balance < required) revert ReservesShortfall(balance, required);
    }

    // --- internals -------------------------------------------------------------------

    /// Every public input against state (newRoot is the proof's to establish; the total
    /// and the masks: _checkOutcome).
    function _checkPublicInputs(uint256 epoch, uint256 lastEpoch, uint256 info,
                                uint256[EPOCH_PUBLIC_INPUTS] calldata pub) private view {
        if (epoch <= lastEpoch) revert EpochAlreadyAccepted(epoch);
        if (epoch != lastEpoch + 1) revert EpochOutOfOrder(epoch, lastEpoch + 1);
        EpochData storage ep = _epochs[epoch];
        if (!ep.closed) revert EpochNotClosed(epoch);
        if (pub[PUB_OLD_ROOT] != stateRoot) revert RootMismatch(pub[PUB_OLD_ROOT], stateRoot);
        if (pub[PUB_PARAMS_HASH] != ep.paramsHash) revert ParamsMismatch(pub[PUB_PARAMS_HASH], ep.paramsHash);
        uint256 prevHash = oracle.pricesHashOf(epoch - 1);
        if (pub[PUB_PRICES_PREV_HASH] != prevHash) revert PrevPricesMismatch(pub[PUB_PRICES_PREV_HASH], prevHash);
        uint256 curHash = oracle.pricesHashOf(epoch);
        if (curHash == 0) revert PricesNotFinal(epoch);
        if (pub[PUB_PRICES_HASH] != curHash) revert PricesMismatch(pub[PUB_PRICES_HASH], curHash);
        if (pub[PUB_EVENTS_ACC] != ep.eventsAcc) revert EventsMismatch(pub[PUB_EVENTS_ACC], ep.eventsAcc);
        uint256 nEvents = (info >> EPOCH_BITS) & ((1 << N_EVENTS_BITS) - 1);
        if (nEvents != ep.nEvents) revert EventCountMismatch(nEvents, ep.nEvents);
    }

    /// The exit data's masks against state; returns the new total collateral, which
    /// `epochInfo` must carry exactly (with this epoch's number and event count).
    function _checkOutcome(uint256 epoch, uint256 info, uint256 total, uint256 liquidated, uint256 granted)
        private
        view
        returns (uint256 expected)
    {
        EpochData storage ep = _epochs[epoch];
        if (liquidated & (1 << HOUSE) != 0) revert InvalidLiquidatedMask(liquidated);
        if (granted & ~ep.withdrawMask != 0) revert GrantedWithoutRequest(granted & ~ep.withdrawMask);
        uint256 paid = 0;
        for (uint256 bits = granted; bits != 0; bits &= bits - 1) {
            paid += _slotEpochs[epoch][_lowestBit(bits)].withdrawal;
        }
        uint256 available = total + ep.deposits;
        expected = paid <= available ? available - paid : 0;
        uint256 given = info >> (EPOCH_BITS + N_EVENTS_BITS);
        if (paid > available || given != expected) revert TotalCollateralMismatch(given, expected);
    }

    /// An accepted epoch's default fund: the next dfScale, Cover-2 met or missed, and the
    /// waterfall's six amounts, unpacked from the proof's words (each field is
    /// range-checked in the circuit, so each word has one decomposition).
    function _acceptFund(uint256 epoch, uint256[EPOCH_PUBLIC_INPUTS] calldata pub) private {
        uint256 fundInfo = pub[PUB_FUND_INFO];
        emit Cover2(epoch, (fundInfo >> (2 * SCALE_BITS)) & 1 == 1, (fundInfo >> SCALE_BITS) & ((1 << SCALE_BITS) - 1));
        uint256 mask = (1 << LAYER_BITS) - 1;
        uint256 a = pub[PUB_LAYERS_A];
        uint256 b = pub[PUB_LAYERS_B];
        uint256 t = pub[PUB_FUND_TOTALS];
        emit DefaultWaterfall(
            epoch, a & mask, a >> LAYER_BITS, b & mask, b >> LAYER_BITS, t & mask, t >> LAYER_BITS
        );
    }

    /// One signed commit: checks and records it; returns its slot's bit. `committed`: the
    /// slots this closeEpoch already posted (an epoch is closed by one call, so the mask
    /// in memory finds every duplicate; no per-slot storage is written).
    function _postCommit(uint256 epoch, uint256 suspended, uint256 committed, Commit calldata cm)
        private
        returns (uint256)
    {
        uint256 slot = cm.slot;
        if (slot >= nSlots) revert SlotOutOfRange(slot, nSlots);
        if (slot == HOUSE) revert HouseCannotCommit();
        Member storage m = members[slot];
        if (!m.active) revert SlotNotActive(slot);
        if (suspended & (1 << slot) != 0) revert SlotSuspended(epoch, slot);
        uint256 commitment = cm.commitment;
        if (commitment == 0 || commitment >= FIELD_R) revert InvalidCommitment(commitment);
        if (committed & (1 << slot) != 0) revert AlreadyCommitted(epoch, slot);
        bytes32 digest = _commitDigest(epoch, slot, commitment, keccak256(cm.ciphertext));
        _checkSigner(digest, slot, m.account, cm.v, cm.r, cm.s);
        _record(KIND_COMMIT, slot, commitment);
        emit ReportCommitted(epoch, slot, commitment, cm.ciphertext);
        return 1 << slot;
    }

    function _commitDigest(uint256 epoch, uint256 slot, uint256 commitment, bytes32 ctHash)
        private
        view
        returns (bytes32)
    {
        return Signatures.eip191(keccak256(
            abi.encode("zkclear-commit-v1", block.chainid, address(this), epoch, slot, commitment, ctHash)
        ));
    }

    /// A canonical (low-s) signature of `digest` by `account`, the slot's.
    function _checkSigner(bytes32 digest, uint256 slot, address account, uint8 v, bytes32 r, bytes32 s)
        private
        pure
    {
        address signer = Signatures.recover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature(slot);
        if (signer != account) revert WrongSigner(slot, signer, account);
    }

    /// The posted deposits, in order, folded before the commits. What the operator
    /// controls refuses the whole close: a slot out of range or not active, an amount of
    /// 0 or not below 2^CASH_BITS, a slot twice in the batch, a signature that is not the
    /// slot account's over this epoch, slot and amount. What a member controls after
    /// signing is skipped with DepositSkipped, never a revert: a pull that fails (allowance
    /// revoked, balance spent), a direct deposit() of the slot in this epoch. A taken
    /// deposit is recorded as deposit() records it (one event, the epoch's sum, the
    /// slot's record); the token balance is checked once for the batch (fee-on-transfer
    /// tokens are refused, as by deposit()).
    function _postDeposits(uint256 epoch, Deposit[] calldata deposits) private {
        uint256 before = collateral.balanceOf(address(this));
        uint256 pulled = 0;
        uint256 seen = 0;
        _pulling = true;
        for (uint256 i = 0; i < deposits.length; i++) {
            Deposit calldata d = deposits[i];
            (uint256 slot, uint256 amount) = (d.slot, d.amount);
            if (slot >= nSlots) revert SlotOutOfRange(slot, nSlots);
            Member storage m = members[slot];
            if (!m.active) revert SlotNotActive(slot);
            _checkAmount(amount);
            if (seen & (1 << slot) != 0) revert AlreadyDeposited(epoch, slot);
            seen |= 1 << slot;
            address account = m.account;
            _checkSigner(_depositDigest(epoch, slot, amount), slot, account, d.v, d.r, d.s);
            uint256 skip = depositOf(epoch, slot) != 0
                ? SKIP_ALREADY_DEPOSITED
                : (_tryPull(account, amount) ? 0 : SKIP_PULL_FAILED);
            if (skip != 0) {
                emit DepositSkipped(epoch, slot, amount, skip);
                continue;
            }
            pulled += amount;
            _setDeposit(epoch, slot, amount);
            _record(KIND_DEPOSIT, slot, amount);
        }
        _pulling = false;
        if (collateral.balanceOf(address(this)) < before + pulled) {
            revert TransferFailed(address(collateral), address(this), pulled);
        }
        _epochs[epoch].deposits += uint128(pulled);
    }

    /// transferFrom(from, this, amount) with PULL_GAS; false if the token refuses it.
    /// Enough gas is required first, so a low gas limit reverts instead of skipping.
    function _tryPull(address from, uint256 amount) private returns (bool) {
        if (gasleft() < PULL_GAS + PULL_GAS / 32) revert InsufficientGas(gasleft(), PULL_GAS + PULL_GAS / 32);
        (bool ok, bytes memory ret) = address(collateral).call{gas: PULL_GAS}(
            abi.encodeCall(IERC20.transferFrom, (from, address(this), amount))
        );
        return ok && (ret.length == 0 || (ret.length == 32 && abi.decode(ret, (uint256)) == 1));
    }

    function _notFrozen() private view {
        if (_acc.frozen) revert PoolFrozen();
        if (_pulling) revert ClosingEpoch();
    }

    function _setWithdrawalTimeout(uint256 timeout) private {
        if (timeout < MIN_WITHDRAWAL_TIMEOUT || timeout > MAX_WITHDRAWAL_TIMEOUT) {
            revert InvalidWithdrawalTimeout(timeout);
        }
        uint256 window = auction.auctionWindow();
        if (timeout < 4 * window) revert AuctionWindowTooLong(window, timeout);
        withdrawalTimeout = timeout;
        emit WithdrawalTimeoutSet(timeout);
    }

    function _credit(address to, uint256 amount) private {
        claimable[to] += amount;
        totalClaimable += amount;
    }

    /// Everything credited and not yet claimed is held (exits never pay out more).
    function _checkCredits() private view {
        uint256 balance = collateral.balanceOf(address(this));
        if (balance < totalClaimable) revert ReservesShortfall(balance, totalClaimable);
    }

    /// False for a slot registered in an epoch that was never accepted (no leaf yet) and
    /// for every slot before the first accepted epoch.
    function _hasLeaf(uint256 slot) private view returns (bool) {
        uint256 lastEpoch = _acc.epoch;
        if (lastEpoch == 0) return false;
        for (uint256 e = lastEpoch + 1; e <= openEpoch; e++) {
            if (_slotEpochs[e][slot].registered) return false;
        }
        return true;
    }

    /// The slot's deposits in the epochs after the last accepted one (at most two).
    function _pendingDeposits(uint256 slot) private view returns (uint256 sum) {
        for (uint256 e = uint256(_acc.epoch) + 1; e <= openEpoch; e++) {
            sum += depositOf(e, slot);
        }
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount == 0 || amount >> CASH_BITS != 0) revert AmountOutOfRange(amount);
    }

    function _setOperator(address operator_) private {
        if (operator_ == address(0)) revert ZeroAddress();
        operator = operator_;
        emit OperatorSet(operator_);
    }

    /// Pull exactly `amount` tokens from `from` (fee-on-transfer tokens are refused).
    function _pull(address from, uint256 amount) private {
        uint256 before = collateral.balanceOf(address(this));
        (bool ok, bytes memory ret) =
            address(collateral).call(abi.encodeCall(IERC20.transferFrom, (from, address(this), amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) {
            revert TransferFailed(address(collateral), address(this), amount);
        }
        if (collateral.balanceOf(address(this)) != before + amount) {
            revert TransferFailed(address(collateral), address(this), amount);
        }
    }

    function _push(address to, uint256 amount) private {
        (bool ok, bytes memory ret) = address(collateral).call(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) {
            revert TransferFailed(address(collateral), to, amount);
        }
    }

    /// Index of the lowest set bit of `bits` (nonzero): isolate it, then binary search.
    function _lowestBit(uint256 bits) private pure returns (uint256 i) {
        uint256 b = bits & (~bits + 1);
        for (uint256 step = 128; step > 0; step >>= 1) {
            if (b >> step != 0) {
                b >>= step;
                i += step;
            }
        }
    }

    /// Root of the genesis state: every leaf zero except the house (status 1, its vkh);
    /// leaf = PoseidonChain(c, q[0..M-1], df, vkh, status, nonce), Poseidon(left, right) above.
    function _genesisRoot(uint256 houseVkh) private view returns (uint256) {
        uint256[] memory leaf = new uint256[](nInstruments + 5);
        uint256 zero = _poseidonChain(leaf);
        leaf[nInstruments + 2] = houseVkh;
        leaf[nInstruments + 3] = 1;
        uint256 node = _poseidonChain(leaf);
        uint256[] memory pair = new uint256[](2);
        for (uint256 width = 1; width < nSlots; width <<= 1) {
            (pair[0], pair[1]) = (node, zero);
            node = _poseidon(pair, 0, 2);
            (pair[0], pair[1]) = (zero, zero);
            zero = _poseidon(pair, 0, 2);
        }
        return node;
    }
}
