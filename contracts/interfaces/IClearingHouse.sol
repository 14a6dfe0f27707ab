// SPDX-License-Identifier: GPL-3.0-only
pragma solidity 0.8.28;

import {EPOCH_PUBLIC_INPUTS} from "./IEpochVerifier.sol";

/// @notice Pool sizes and the epochs' event log (docs/protocol.md, "Events").
interface IEpochLog {
    error InvalidPoolSize(uint256 nSlots, uint256 nInstruments, uint256 nScenarios, uint256 maxEvents);
    /// The ExitLeaves given at deployment is not of this pool's size.
    error ExitLeavesMismatch(address exitLeaves);
    error EpochFull(uint256 epoch, uint256 maxEvents);
    error AlreadyCommitted(uint256 epoch, uint256 slot);
    error AlreadyDeposited(uint256 epoch, uint256 slot);
    error AlreadyRequested(uint256 epoch, uint256 slot);
    error AlreadyRegistered(uint256 epoch, uint256 slot);

    /// One event folded into `epoch`'s accumulator: acc = Poseidon(accBefore, kind, slot, value).
    event EpochEvent(uint256 indexed epoch, uint256 index, uint256 kind, uint256 indexed slot, uint256 value, uint256 acc);
    event EpochClosed(uint256 indexed epoch, uint256 eventsAcc, uint256 nEvents, uint256 paramsHash);

    function nSlots() external view returns (uint256);
    function nInstruments() external view returns (uint256);
    function nScenarios() external view returns (uint256);
    function maxEvents() external view returns (uint256);
    /// The epoch collecting events now.
    function openEpoch() external view returns (uint256);
}

/// @notice Members of the permissioned pool, one per slot; slot 0 is the house.
interface IMemberRegistry {
    error SlotOutOfRange(uint256 slot, uint256 nSlots);
    error SlotInUse(uint256 slot);
    error NotRegistered(uint256 slot);
    error AccountAlreadyMember(address account, uint256 slot);
    error InvalidViewKeyCommitment(uint256 vkh);
    error InvalidEscrow(uint256 length, uint256 maxLength);
    error NotMember(address caller);

    event MemberRegistered(uint256 indexed slot, address indexed account, uint256 vkh, bytes escrow);
    event MemberRemoved(uint256 indexed slot, address indexed account);
}

/// @notice Governed risk parameters; paramsHash is computed on-chain from them and the
/// fixed instrument table's columns (the table: IInstruments, base/InstrumentTable.sol).
interface IRiskParameters {
    error InstrumentCountMismatch(uint256 instruments, uint256 nInstruments);
    error WrongParamsLength(uint256 positionLimits, uint256 shocks, uint256 nInstruments, uint256 nScenarios);
    error InvalidImFactor(uint256 imFactorBp);
    error InvalidPenalty(uint256 penaltyBp);
    error InvalidPositionLimit(uint256 instrument, uint256 limit);
    error InvalidShock(uint256 scenario, uint256 instrument, int256 shock);
    error InvalidFundParams(uint256 dfFloor, uint256 dfShareBp, uint256 stressBp, uint256 skinCap);

    /// paramsHash = PoseidonChain(imFactorBp, penaltyBp, dfFloor, dfShareBp, stressBp,
    /// skinCap, positionLimits[M], shocks[K*M] mod r, isPerp[M], isOption[M], expiry[M]);
    /// the last three are the instrument table's columns.
    event RiskParamsSet(
        uint256 paramsHash,
        uint256 imFactorBp,
        uint256 penaltyBp,
        uint256 dfFloor,
        uint256 dfShareBp,
        uint256 stressBp,
        uint256 skinCap,
        uint256[] positionLimits,
        int256[] shocks,
        uint256[] isPerp,
        uint256[] isOption,
        uint256[] expiry
    );
}

/// @notice The clearing house: reports, custody, epochs and their proofs.
interface IClearingHouse is IEpochLog, IMemberRegistry, IRiskParameters {
    struct Proof {
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
    }

    /// A member's report commitment, signed by the slot's account, posted by the operator.
    struct Commit {
        uint256 slot;
        uint256 commitment;
        bytes ciphertext;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// A member's deposit intent, signed by the slot's account over depositDigest (epoch,
    /// slot, amount), posted by the operator with closeEpoch; the tokens are pulled under
    /// the member's standing allowance.
    struct Deposit {
        uint256 slot;
        uint256 amount;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    error NotOperator(address caller);
    error HouseCannotCommit();
    error HouseCannotWithdraw();
    error InvalidCommitment(uint256 commitment);
    error AmountOutOfRange(uint256 amount);
    error TransferFailed(address token, address to, uint256 amount);
    error EpochPending(uint256 epoch);
    error EpochAlreadyAccepted(uint256 epoch);
    error EpochOutOfOrder(uint256 epoch, uint256 expected);
    error EpochNotClosed(uint256 epoch);
    error RootMismatch(uint256 given, uint256 expected);
    error ParamsMismatch(uint256 given, uint256 expected);
    error PrevPricesMismatch(uint256 given, uint256 expected);
    error PricesMismatch(uint256 given, uint256 expected);
    error PricesNotFinal(uint256 epoch);
    error EventsMismatch(uint256 given, uint256 expected);
    error EventCountMismatch(uint256 given, uint256 expected);
    error InvalidLiquidatedMask(uint256 mask);
    error GrantedWithoutRequest(uint256 slots);
    error TotalCollateralMismatch(uint256 given, uint256 expected);
    error InsufficientGas(uint256 available, uint256 required);
    error InvalidProof();
    error ReservesShortfall(uint256 balance, uint256 required);
    error NotAContract(address account);
    error OracleMismatch(uint256 oracleInstruments, uint256 nInstruments);
    /// The oracle was deployed with another instrument table (keccak256 of abi.encode).
    error InstrumentsMismatch(bytes32 house, bytes32 oracle);
    // liveness: signed commits, suspension, pull payouts, freeze and exit
    error SlotNotActive(uint256 slot);
    error SlotSuspended(uint256 epoch, uint256 slot);
    error InvalidSignature(uint256 slot);
    error WrongSigner(uint256 slot, address signer, address expected);
    error InvalidExcludedMask(uint256 mask);
    error NothingToClaim(address account);
    error PoolFrozen();
    error NotFrozen();
    error FreezeTooEarly(uint256 epoch, uint256 deadline);
    error NothingToForce();
    error InvalidWithdrawalTimeout(uint256 timeout);
    error AlreadyExited(uint256 slot);
    error HouseCannotExit();
    error DfScaleMismatch(uint256 given, uint256 expected);
    /// setWithdrawalTimeout: 4 * the auction's window must not exceed the timeout.
    error AuctionWindowTooLong(uint256 window, uint256 withdrawalTimeout);
    /// A member's call while closeEpoch pulls a posted deposit (a token callback).
    error ClosingEpoch();

    event OperatorSet(address indexed operator);
    event ReportCommitted(uint256 indexed epoch, uint256 indexed slot, uint256 commitment, bytes ciphertext);
    event EpochAccepted(
        uint256 indexed epoch,
        uint256 oldRoot,
        uint256 newRoot,
        uint256 liquidatedMask,
        uint256 grantedMask,
        uint256 totalCollateral
    );
    /// The accepted epoch's exit data D (new leaf hashes, house collateral mod r): what a
    /// member needs, with its own view key, to exit after a freeze.
    event ExitDataPublished(uint256 indexed epoch, uint256[] exitData);
    event Liquidated(uint256 indexed epoch, uint256 indexed slot);
    /// The epoch's default waterfall (docs/protocol.md, "Default fund"): the defaulters'
    /// own contributions used, the house's skin in the game, the survivors' contributions
    /// and their VM-gain haircut; the survivors' fund and gains before them (fundBase,
    /// fundGains: with these a member recomputes its own shares); Cover-2 met or missed,
    /// and the dfScale of the next epoch.
    event DefaultWaterfall(
        uint256 indexed epoch,
        uint256 fundOwn,
        uint256 fundHouse,
        uint256 fundShared,
        uint256 fundHaircut,
        uint256 fundBase,
        uint256 fundGains
    );
    event Cover2(uint256 indexed epoch, bool met, uint256 dfScaleNext);
    event WithdrawalPaid(uint256 indexed epoch, uint256 indexed slot, address to, uint256 amount);
    event WithdrawalRefused(uint256 indexed epoch, uint256 indexed slot, uint256 amount);
    /// The operator closed `epoch` without this slot's report; it is suspended in epoch + 1.
    event ReportExcluded(uint256 indexed epoch, uint256 indexed slot);
    /// A posted deposit closeEpoch did not take: reason 1, the pull failed (allowance,
    /// balance or a refusing token); reason 2, the slot already deposited in `epoch`.
    event DepositSkipped(uint256 indexed epoch, uint256 indexed slot, uint256 amount, uint256 reason);
    event Claimed(address indexed account, uint256 amount);
    event WithdrawalTimeoutSet(uint256 timeout);
    /// `epoch`'s first withdrawal request (at `requestedAt`) was not served in time.
    event Frozen(uint256 indexed epoch, uint256 requestedAt);
    event Exited(uint256 indexed slot, address indexed account, uint256 amount, bool haircutApplied);

    function deposit(uint256 amount) external;
    function requestWithdrawal(uint256 amount) external;
    function closeEpoch(Commit[] calldata commits, Deposit[] calldata deposits, uint256 excludedMask)
        external;
    function claim() external;
    function freeze() external;
    function exit(uint256 slot, int256 c, int256[] calldata q, uint256 df, uint256 vkh,
                  uint256 nonce, uint256[] calldata exitData) external;
    function exitHouse(uint256[] calldata exitData) external;
    function submitEpoch(Proof calldata proof, uint256[EPOCH_PUBLIC_INPUTS] calldata publicInputs,
                         uint256[] calldata exitData) external;
}
