// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Staking} from "./Staking.sol";

/// @title loraswarm task and round coordinator
/// @notice Tasks, registrations, commit/seal/open rounds, quorum finalization, pull payments
/// (Merkle claims for peers, seal-weight shares for validators) and scoped slashes.
///
/// Time: a round's windows follow one another: commit (c), reveal (v), seal (a/2), open
/// (a - a/2), period p = c + v + a. Without early ends round r of a task starting at `start` is
///   commit [start + r*p, +c), reveal [.., +v), attest [.., +a) = seal [.., +a/2) open [.., end).
/// A task created with `phasesEndEarly` also ends a window once everyone it waits for has
/// acted: commit once every registered peer committed, seal once the round's whole validator
/// snapshot sealed (the next window begins the next second), and a finalized round's open window
/// once anyone calls `startRound` for the next round (its commit window begins with that call;
/// late openers keep the finalized round's window). The reveal window always runs its full
/// length: it is also the window in which the revealed deltas spread to the validators, who judge
/// what they hold when it ends (ended at the last reveal, 25 peers' deltas did not reach them in
/// time and the round failed: benchmarks/scale.py, 2026-12-05).
/// Later windows follow at full length: the windows are upper bounds for the slow and the
/// absent, and nobody can end a phase that still waits for someone else. The schedule is kept
/// as one anchor (`scheduleAnchor`); each early end is logged (PhaseEnded). Rules about past
/// rounds go by round numbers (registrations count from a first round) and by deadlines fixed
/// at finalization, never by a past window's time.
/// A round without a validator quorum by the end of its attest window has failed.
///
/// Stake is bound to one task until every round it took part in is settled: `leave` only
/// requests an exit; the stake stays locked (and slashable for the rounds it took part in) until
/// `release`, which opens when the last of those rounds can no longer be slashed. Every slash
/// takes only stake locked in the slashing task, only from the role at fault, and only from an
/// account registered in that task for that round.
///
/// Quorum: the denominator of round r is the validator weight at the start of round r (a lazy
/// checkpoint keeps it while registrations, exits and slashes change the live weight during the
/// round). A validator's attestation weighs what it had locked when it sealed; openings add that
/// seal-time weight to the tuple's support, and the opening that brings the support to
/// `quorumBps` of the denominator finalizes the round in O(1) gas, whatever the number of peers.
///
/// Money: the owner deposits the reward reserve, `createTask` moves a budget from it to the task.
/// The attested tuple names the peers' pool; at finalization the round takes that pool plus the
/// validators' share (`validatorBps` of what is available) from the task's slash pool first, then
/// from its budget; whatever it does not take waits for later rounds. Peers claim with a Merkle
/// proof, validators who opened the finalized tuple claim by seal weight, both until the claim
/// deadline; `sweep` then returns what nobody claimed to the budget. A closed task's money goes
/// back to the reserve once its last claim deadline has passed.
///
/// Merkle leaves follow OpenZeppelin's StandardMerkleTree: keccak256(keccak256(abi.encode(..))).
///   reward leaf: (uint256 taskId, uint256 round, uint256 index, address account, uint256 amount)
///   slash leaf:  (uint256 taskId, uint256 round, address account, uint256 amount, uint8 reason)
contract Coordinator is Ownable, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice Everything `createTask` fixes for the life of a task (`taskInfo` returns the
    /// budget left in `budget` and the effective start in `startTime`).
    struct TaskParams {
        bytes32 specHash;
        bytes32 baseModelHash;
        bytes32 initialGlobalHash;
        uint16 aggregationRule;
        uint16 quorumBps;
        uint16 validatorBps;
        uint64 startTime;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 attestWindow;
        uint32 claimWindow;
        uint128 rewardPerRound;
        uint128 minPeerStake;
        uint128 minValidatorStake;
        uint128 validatorSlash;
        uint128 absenceSlash;
        /// @dev true: a phase also ends once everyone it waits for has acted (see "Time").
        bool phasesEndEarly;
        uint128 budget;
    }

    /// @notice A peer's revealed update, as it signs it (EIP-712, see `updateDigest`).
    struct Update {
        uint256 taskId;
        uint64 round;
        address peer;
        bytes32 baseHash;
        bytes32 deltaHash;
        uint64 deltaSize;
        uint64 sampleCount;
        uint16 codecId;
        bytes32 salt;
    }

    /// @dev An attested outcome; its hash is keccak256 of abi.encode of the five fields
    /// (loraswarm.protocol.chain.tuple_hash).
    struct Tuple {
        bytes32 acceptedRoot;
        bytes32 globalHash;
        bytes32 rewardsRoot;
        bytes32 slashRoot;
        uint256 peerPool;
    }

    /// @dev Packed so that commit, seal and open read slot 0 only, and a finalizing opening
    /// slots 0, 2 and 3 (and 4 when the validator weight changed during the round).
    struct Task {
        // slot 0: timing and its anchor (from window `anchorWindow` = round * 4 + phase on,
        // every window begins `anchorShift` seconds before the full-length schedule's time for
        // it; see `_anchor`), quorum, closure (commitWindow != 0 marks an existing task)
        uint40 start;
        uint24 commitWindow;
        uint24 revealWindow;
        uint24 attestWindow;
        uint16 quorumBps;
        uint32 lastRoundPlusOne;
        bool phasesEndEarly;
        uint32 anchorWindow;
        uint56 anchorShift;
        // slot 1
        uint128 minPeerStake;
        uint128 minValidatorStake;
        // slot 2: money waiting for a round, the newest finalized round + 1, and what
        // finalization reads besides
        uint96 budget;
        uint96 slashPool;
        uint32 finalizedPlusOne;
        uint16 validatorBps;
        uint16 aggregationRule;
        // slot 3: live validator weight and the key (round + 1, 0 before the start) of the
        // period in which it last changed
        uint96 rewardPerRound;
        uint96 liveWeight;
        uint32 checkpointKey;
        uint32 claimWindow;
        // slot 4: the live weight when that period began
        uint96 checkpointWeight;
        uint128 validatorSlash;
        // slot 5
        uint128 absenceSlash;
        // slots 6-9
        bytes32 latestGlobal;
        bytes32 baseModelHash;
        bytes32 initialGlobal;
        bytes32 specHash;
        // slot 10 (tasks whose phases end early only)
        Tally tally;
    }

    /// @dev Who has acted in a task whose phases end early: registered peers (released ones
    /// leave the count) and commits of round `roundPlusOne - 1`. The counts only ever
    /// overestimate who is still to act.
    struct Tally {
        uint32 roundPlusOne;
        uint32 commits;
        uint32 peers;
    }

    /// @dev Written once at finalization (three fresh slots); the pools count down as they are
    /// claimed, so that claims, validator claims and sweeps update one packed slot. The
    /// validators' pool and the round's quorum denominator live in the finalized tuple's
    /// `_support` slot (see `_finalTerms`).
    struct Round {
        bytes32 rewardsRoot;
        bytes32 slashRoot;
        uint96 peerLeft;
        uint96 validatorLeft;
        uint40 claimDeadline;
        RoundStatus status;
        bool swept;
    }

    /// @dev One slot, the only one commit reads and writes besides the commitment.
    /// lastCommitPlusOne survives `release`, so that leaving and re-registering cannot buy a
    /// second commitment in the same round.
    struct Participant {
        uint96 peerStake;
        uint96 validatorStake;
        uint32 lastCommitPlusOne;
        uint32 exitRoundPlusOne;
    }

    /// @dev Registration times per role: a later registration in the other role never moves a
    /// role's eligibility (a peer cannot dodge a pending slash by registering as a validator).
    /// A registration counts from its first round: peers from the round whose commit window was
    /// open, validators from the next round's weight snapshot (round 0 before the start).
    struct Membership {
        uint32 peerFirstRoundPlusOne;
        uint32 validatorFirstRoundPlusOne;
        uint96 slashed;
        uint32 lastRevealPlusOne;
    }

    /// @dev A validator's weight in a round, fixed when it seals.
    struct SealRecord {
        uint96 weight;
        bool claimed;
    }

    enum RoundStatus {
        Open,
        Finalized,
        Failed
    }

    /// @notice Phase of a round at a timestamp (see `phaseAt`).
    enum Phase {
        NotStarted,
        Commit,
        Reveal,
        Attest,
        Finalized,
        Failed
    }

    error QuorumOutOfRange(uint16 quorumBps);
    error ValidatorShareOutOfRange(uint16 validatorBps);
    error EmptyWindow();
    error WindowTooLong(uint256 maxSeconds);
    error ClaimWindowTooShort(uint256 claimWindow, uint256 period);
    error ZeroMinimumStake();
    error ZeroHash();
    error InsufficientReserve(uint256 requested, uint256 reserve);
    error UnknownTask(uint256 taskId);
    error ZeroAmount();
    error TaskClosed(uint256 taskId, uint64 lastRound);
    error TaskNotClosed(uint256 taskId);
    error BudgetLocked(uint256 taskId, uint256 unlocksAt);
    error BusyInAnotherTask(address account, uint256 taskId);
    error AlreadyRegistered(uint256 taskId, address account);
    error NotRegistered(uint256 taskId, address account);
    error ExitPending(uint256 taskId, address account, uint256 releaseAt);
    error NoExitPending(uint256 taskId, address account);
    error ReleaseNotReady(uint256 taskId, address account, uint256 releaseAt);
    error StakeBelowMinimum(uint256 amount, uint256 minimum);
    error NotPeer(uint256 taskId, address account);
    error NotValidator(uint256 taskId, address account);
    error NotEligible(uint256 taskId, uint64 round, address account);
    error NotInCommitWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error NotInSealWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error NotInAttestWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error ZeroCommitment();
    error AlreadyCommitted(uint256 taskId, uint64 round, address peer);
    error NotInRevealWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error NotCommitted(uint256 taskId, uint64 round, address peer);
    error NotTheCommittedUpdate(uint256 taskId, uint64 round, address peer);
    error AlreadyRevealed(uint256 taskId, uint64 round, address peer);
    error ZeroSeal();
    error AlreadySealed(uint256 taskId, uint64 round, address validator);
    error NotSealed(uint256 taskId, uint64 round, address validator);
    error SealMismatch(uint256 taskId, uint64 round, address validator);
    error AlreadyAttested(uint256 taskId, uint64 round, address validator);
    error PoolUnavailable(uint256 peerPool, uint256 available);
    error RoundAlreadyFinalized(uint256 taskId, uint64 round);
    error RoundAlreadyFailed(uint256 taskId, uint64 round);
    error RoundNotExpired(uint256 taskId, uint64 round, uint256 attestEnd);
    error RoundNotFinalized(uint256 taskId, uint64 round);
    error NotStartable(uint256 taskId, uint64 round);
    error InvalidProof();
    error AlreadyClaimed(uint256 taskId, uint64 round, address account);
    error PoolExceeded(uint256 taskId, uint64 round, uint256 amount, uint256 left);
    error NotFinalAttester(uint256 taskId, uint64 round, address validator);
    error ClaimExpired(uint256 taskId, uint64 round, uint256 deadline);
    error ClaimWindowOpen(uint256 taskId, uint64 round, uint256 deadline);
    error AlreadySwept(uint256 taskId, uint64 round);
    error AlreadySlashed(uint256 taskId, uint64 round, address account);
    error SlashExpired(uint256 taskId, uint64 round, uint256 deadline);
    error NotSlashable(uint256 taskId, uint64 round, address account);
    error MalformedEvidence();
    error WrongSigner(address peer);

    event ReserveDeposited(address indexed from, uint256 amount, uint256 reserve);
    event ReserveWithdrawn(address indexed to, uint256 amount, uint256 reserve);
    event TaskCreated(uint256 indexed taskId, bytes32 indexed specHash, TaskParams params);
    event TaskFunded(uint256 indexed taskId, address indexed from, uint256 amount, uint256 budget);
    event TaskEnded(uint256 indexed taskId, uint64 lastRound);
    event BudgetWithdrawn(uint256 indexed taskId, uint256 amount, uint256 reserve);
    /// @param firstRound the first round the registration counts in
    event PeerRegistered(uint256 indexed taskId, address indexed account, uint256 stake, uint64 firstRound);
    /// @param firstRound the first round whose weight snapshot holds the registration
    event ValidatorRegistered(uint256 indexed taskId, address indexed account, uint256 stake, uint64 firstRound);
    /// @param round the last round the account takes part in; `forced` when an absence ejected it
    event ExitRequested(
        uint256 indexed taskId, address indexed account, uint64 round, uint256 releaseAt, bool forced
    );
    event ParticipantLeft(uint256 indexed taskId, address indexed account, uint256 released);
    event UpdateCommitted(uint256 indexed taskId, uint64 indexed round, address indexed peer, bytes32 commitment);
    event UpdateRevealed(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed peer,
        bytes32 baseHash,
        bytes32 deltaHash,
        uint64 deltaSize,
        uint64 sampleCount
    );
    event AttestationSealed(
        uint256 indexed taskId, uint64 indexed round, address indexed validator, bytes32 seal, uint256 weight
    );
    event Attested(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed validator,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        uint256 peerPool,
        uint256 weight
    );
    event RoundFinalized(
        uint256 indexed taskId,
        uint64 indexed round,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        uint256 peerPool,
        uint256 validatorPool,
        uint256 support,
        uint256 denominator
    );
    event RoundFailed(uint256 indexed taskId, uint64 indexed round);
    /// @notice Window `window` (round * 4 + phase: commit, reveal, seal, open) begins at `begins`,
    /// earlier than its full-length schedule: everyone the window before waited for has acted,
    /// or (a commit window) `startRound` started the round after a finalized one.
    event PhaseEnded(uint256 indexed taskId, uint256 window, uint256 begins);
    event RewardClaimed(
        uint256 indexed taskId, uint64 indexed round, address indexed account, uint256 index, uint256 amount
    );
    event ValidatorRewardClaimed(
        uint256 indexed taskId, uint64 indexed round, address indexed validator, uint256 amount
    );
    event RoundSwept(uint256 indexed taskId, uint64 indexed round, uint256 amount, uint256 budget);
    event SlashExecuted(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed account,
        uint256 amount,
        uint8 reason,
        address executor,
        uint256 bounty
    );
    event EquivocationReported(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed peer,
        bytes32 digestA,
        bytes32 digestB,
        address reporter
    );

    uint16 public constant BPS = 10_000;
    /// @notice The longest window a task may have (194 days).
    uint32 public constant MAX_WINDOW = type(uint24).max;
    /// @notice Share of every slash paid to whoever executes it (the rest goes to the task's
    /// slash pool): executing a slash is never out of pocket.
    uint16 public constant SLASH_BOUNTY_BPS = 500;
    /// @notice Reason of `reportEquivocation` slashes (loraswarm.protocol.codes.Reason.EQUIVOCATION).
    uint8 public constant EQUIVOCATION_REASON = 54;
    /// @notice Reason of `slashValidator` for a validator that did not attest.
    uint8 public constant ABSENCE_REASON = 254;
    /// @notice Reason of `slashValidator` for a validator that attested against the quorum.
    uint8 public constant DISSENT_REASON = 255;
    /// @notice EIP-712 type of `Update` (loraswarm.protocol.wire.UPDATE_TYPE).
    bytes32 public constant UPDATE_TYPEHASH = keccak256(
        "Update(uint256 taskId,uint64 round,address peer,bytes32 baseHash,bytes32 deltaHash,uint64 deltaSize,"
        "uint64 sampleCount,uint16 codecId,bytes32 salt)"
    );
    /// @dev Flag of the finalized tuple's `_support` slot; below it sit the validators' pool
    /// (bits 96..191) and the round's quorum denominator (bits 0..95). No real support reaches it.
    uint256 private constant FINAL = 1 << 255;
    uint256 private constant LOW96 = type(uint96).max;
    /// @dev Placeholder commitment of a registered peer that has not committed yet.
    bytes32 private constant NO_COMMITMENT = bytes32(uint256(1));

    /// @notice The reward token.
    IERC20 public immutable rewardToken;
    /// @notice The stake escrow this coordinator locks and slashes.
    Staking public immutable staking;
    /// @notice Tokens held for tasks not yet created (and returned by closed ones).
    uint256 public reserve;
    /// @notice Number of tasks; task ids are 1..taskCount (0 means "no task").
    uint256 public taskCount;
    /// @notice The task an account is registered in, 0 if none.
    mapping(address account => uint256 taskId) public activeTask;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint64 round => Round)) private _rounds;
    mapping(uint256 taskId => mapping(address account => Participant)) private _participants;
    mapping(uint256 taskId => mapping(address account => Membership)) private _members;
    /// @dev A peer's latest commitment (older ones are in UpdateCommitted logs). Registration
    /// stores NO_COMMITMENT here so that every commit rewrites a non-zero slot (5k gas, not 22k).
    mapping(uint256 taskId => mapping(address peer => bytes32)) private _latestCommitment;
    /// @dev Seal weight of a round so far (tasks whose phases end early).
    mapping(uint256 taskId => mapping(uint64 round => uint256)) private _sealedWeight;
    /// @dev A validator's seal until it opens it, then the tuple hash it opened.
    mapping(uint256 taskId => mapping(uint64 round => mapping(address validator => bytes32))) private _attestations;
    mapping(uint256 taskId => mapping(uint64 round => mapping(address validator => SealRecord))) private _seals;
    /// @dev Seal-time weight behind a tuple; FINAL | terms for the finalized tuple.
    mapping(uint256 taskId => mapping(uint64 round => mapping(bytes32 tupleHash => uint256))) private _support;
    /// @dev Per account, a bitmap of the rounds it has claimed: bit (round + 1) % 256 of word
    /// (round + 1) / 256. Bit 0 of word 0 is set at registration, so the first claims (rounds
    /// 0..254) update a non-zero word; one claim per 256 rounds pays for a fresh word.
    mapping(uint256 taskId => mapping(address account => mapping(uint256 word => uint256))) private _claimedRounds;
    /// @dev Executed slashes: Merkle leaf hashes and `_validatorSlashKey`s.
    mapping(bytes32 key => bool) private _slashed;
    mapping(uint256 taskId => mapping(uint64 round => mapping(address peer => bool))) private _equivocated;

    /// @dev The EIP-712 domain's name and version are loraswarm.protocol.wire.EIP712_NAME and
    /// EIP712_VERSION (`eip712Domain()` returns them; a test compares).
    constructor(IERC20 token, Staking stakeEscrow, address initialOwner)
        Ownable(initialOwner)
        EIP712("loraswarm", "1")
    {
        rewardToken = token;
        staking = stakeEscrow;
    }

    // ---------------------------------------------------------------- reserve and tasks

    /// @notice Add `amount` tokens (needs an allowance) to the reserve that funds new tasks.
    function depositReserve(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        reserve += amount;
        emit ReserveDeposited(msg.sender, amount, reserve);
        rewardToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Pay `amount` of the reserve (never a task's budget or pools) to `to`.
    function withdrawReserve(address to, uint256 amount) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        if (amount > reserve) revert InsufficientReserve(amount, reserve);
        reserve -= amount;
        emit ReserveWithdrawn(to, amount, reserve);
        rewardToken.safeTransfer(to, amount);
    }

    /// @notice Create a task; its budget comes out of the reserve. A start in the past starts now.
    /// @return taskId the new task's id (1, 2, ...)
    function createTask(TaskParams calldata p) external onlyOwner returns (uint256 taskId) {
        _checkParams(p);
        if (p.budget > reserve) revert InsufficientReserve(p.budget, reserve);
        reserve -= p.budget;
        taskId = ++taskCount;
        Task storage task = _tasks[taskId];
        // slither-disable-next-line timestamp
        task.start = SafeCast.toUint40(p.startTime < block.timestamp ? block.timestamp : p.startTime);
        // _checkParams bounds each window by MAX_WINDOW.
        task.commitWindow = uint24(p.commitWindow);
        task.revealWindow = uint24(p.revealWindow);
        task.attestWindow = uint24(p.attestWindow);
        task.claimWindow = p.claimWindow;
        task.quorumBps = p.quorumBps;
        task.aggregationRule = p.aggregationRule;
        task.validatorBps = p.validatorBps;
        task.minPeerStake = p.minPeerStake;
        task.minValidatorStake = p.minValidatorStake;
        task.budget = SafeCast.toUint96(p.budget);
        task.rewardPerRound = SafeCast.toUint96(p.rewardPerRound);
        task.validatorSlash = p.validatorSlash;
        task.absenceSlash = p.absenceSlash;
        task.latestGlobal = p.initialGlobalHash;
        task.baseModelHash = p.baseModelHash;
        task.initialGlobal = p.initialGlobalHash;
        task.specHash = p.specHash;
        task.phasesEndEarly = p.phasesEndEarly;
        emit TaskCreated(taskId, p.specHash, _paramsOf(task));
    }

    /// @notice Top up a running task's budget from the caller's tokens (needs an allowance).
    function fundTask(uint256 taskId, uint256 amount) external {
        Task storage task = _task(taskId);
        _checkOpen(task, taskId);
        if (amount == 0) revert ZeroAmount();
        task.budget += SafeCast.toUint96(amount);
        emit TaskFunded(taskId, msg.sender, amount, task.budget);
        rewardToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice End a task: the current round (round 0 before the start) is its last; commits,
    /// seals and registrations for later rounds revert with TaskClosed.
    function closeTask(uint256 taskId) external onlyOwner {
        Task storage task = _task(taskId);
        _checkOpen(task, taskId);
        uint64 last = _currentKey(task);
        // slither-disable-next-line timestamp
        if (last != 0) last -= 1;
        task.lastRoundPlusOne = SafeCast.toUint32(uint256(last) + 1);
        emit TaskEnded(taskId, last);
    }

    /// @notice Move a closed task's budget and slash pool to the reserve, once the last round's
    /// claim deadline (which is after its slash deadline) has passed. Callable again for what
    /// later sweeps and slashes bring in.
    function withdrawBudget(uint256 taskId) external onlyOwner {
        Task storage task = _task(taskId);
        if (task.lastRoundPlusOne == 0) revert TaskNotClosed(taskId);
        uint256 unlocksAt = _openEnd(task, taskId, task.lastRoundPlusOne - 1) + task.claimWindow;
        // Windows are minutes long and validators' clocks drift by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp < unlocksAt) revert BudgetLocked(taskId, unlocksAt);
        uint256 amount = uint256(task.budget) + task.slashPool;
        if (amount == 0) revert ZeroAmount();
        task.budget = 0;
        task.slashPool = 0;
        reserve += amount;
        emit BudgetWithdrawn(taskId, amount, reserve);
    }

    // ---------------------------------------------------------------- registration

    /// @notice Register as a peer: locks the task's minimum peer stake. The registration counts
    /// from the first round whose commit window has not closed yet.
    function registerPeer(uint256 taskId) external {
        Task storage task = _task(taskId);
        (Participant storage part, Membership storage member) = _join(task, taskId);
        // Not `peerStake != 0`: a peer slashed to nothing must not reset its join time (and with
        // it what it can still be slashed for) by registering again; release clears it.
        if (member.peerFirstRoundPlusOne != 0) revert AlreadyRegistered(taskId, msg.sender);
        uint128 amount = task.minPeerStake;
        part.peerStake = SafeCast.toUint96(amount);
        if (_latestCommitment[taskId][msg.sender] == bytes32(0)) {
            _latestCommitment[taskId][msg.sender] = NO_COMMITMENT;
        }
        // The first round whose commit window has not closed yet.
        uint256 position = _positionAt(task, block.timestamp);
        // slither-disable-next-line incorrect-equality
        uint64 firstRound = position == 0 ? 0 : uint64(((position - 1) >> 2) + ((position - 1) & 3 == 0 ? 0 : 1));
        member.peerFirstRoundPlusOne = SafeCast.toUint32(uint256(firstRound) + 1);
        if (task.phasesEndEarly) task.tally.peers += 1;
        emit PeerRegistered(taskId, msg.sender, amount, firstRound);
        staking.lock(msg.sender, amount);
    }

    /// @notice Register as a validator, locking `amount` of stake: its weight, counted in the
    /// quorum from the next round's snapshot on (from round 0 if the task has not started).
    function registerValidator(uint256 taskId, uint256 amount) external {
        Task storage task = _task(taskId);
        if (amount < task.minValidatorStake) revert StakeBelowMinimum(amount, task.minValidatorStake);
        (Participant storage part, Membership storage member) = _join(task, taskId);
        if (member.validatorFirstRoundPlusOne != 0) revert AlreadyRegistered(taskId, msg.sender);
        uint96 weight = SafeCast.toUint96(amount);
        part.validatorStake = weight;
        uint64 firstRound = _currentKey(task);
        member.validatorFirstRoundPlusOne = SafeCast.toUint32(uint256(firstRound) + 1);
        _moveWeight(task, weight, 0);
        emit ValidatorRegistered(taskId, msg.sender, amount, firstRound);
        staking.lock(msg.sender, amount);
    }

    /// @notice Leave the task. Before it starts, the stake is released at once. Otherwise the
    /// account takes part in the current round k (it may still commit, seal and open in it and
    /// stays slashable for it), its validator weight leaves the quorum from round k + 1 on, and
    /// its stake stays locked until `release`, at the end of round k + 1 (k's slash deadline).
    function leave(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (activeTask[msg.sender] != taskId) revert NotRegistered(taskId, msg.sender);
        Participant storage part = _participants[taskId][msg.sender];
        _checkNoExit(task, part, taskId, msg.sender);
        // slither-disable-next-line timestamp
        if (block.timestamp < task.start) {
            _moveWeight(task, 0, part.validatorStake);
            _release(taskId, part);
            return;
        }
        _requestExit(task, part, taskId, msg.sender, false);
    }

    /// @notice Unlock what slashes left of the stake of an account that left, once the slash
    /// deadline of the last round it took part in has passed; it may then join any task.
    function release(uint256 taskId) external {
        Task storage task = _task(taskId);
        Participant storage part = _participants[taskId][msg.sender];
        if (part.exitRoundPlusOne == 0) revert NoExitPending(taskId, msg.sender);
        uint256 releaseAt = _releaseAt(task, taskId, part.exitRoundPlusOne);
        // slither-disable-next-line timestamp
        if (block.timestamp < releaseAt) revert ReleaseNotReady(taskId, msg.sender, releaseAt);
        _release(taskId, part);
    }

    // ---------------------------------------------------------------- rounds

    /// @notice Commit to an update: `commitment` is the EIP-712 digest of the Update the peer
    /// signs (see `updateDigest`), opened by `reveal` in the reveal window.
    function commit(uint256 taskId, uint64 round, bytes32 commitment) external {
        Task storage task = _tasks[taskId];
        Participant storage part = _participants[taskId][msg.sender];
        if (part.peerStake == 0) revert NotPeer(taskId, msg.sender);
        _checkRoundOpen(task, part, taskId, round);
        (uint256 opens, uint256 closes) = _span(task, uint256(round) * 4);
        // Windows are minutes long and validators' clocks drift by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp < opens || block.timestamp >= closes) {
            revert NotInCommitWindow(round, opens, closes, block.timestamp);
        }
        if (commitment == bytes32(0) || commitment == NO_COMMITMENT) revert ZeroCommitment();
        // The window check bounds the round by the block's timestamp: round + 1 fits 32 bits.
        uint32 plusOne = uint32(round + 1);
        if (part.lastCommitPlusOne == plusOne) revert AlreadyCommitted(taskId, round, msg.sender);
        part.lastCommitPlusOne = plusOne;
        _latestCommitment[taskId][msg.sender] = commitment;
        emit UpdateCommitted(taskId, round, msg.sender, commitment);
        if (task.phasesEndEarly) {
            Tally storage tally = task.tally;
            // The round's first commit restarts the count.
            uint32 commits = tally.roundPlusOne == plusOne ? tally.commits + 1 : 1;
            (tally.roundPlusOne, tally.commits) = (plusOne, commits);
            // Every registered peer has committed (each commits once a round).
            if (commits >= tally.peers) _endEarly(task, taskId, uint256(round) * 4 + 1, block.timestamp + 1, closes);
        }
    }

    /// @notice Reveal the update committed in a round, in its reveal window: its EIP-712 digest must
    /// be the commitment. What was revealed is then a fact at every block after: validators judge
    /// the reveals of a round at its pinned block, so no timing of gossip can give them different
    /// views of it (the delta itself travels off chain by its hash). One reveal per round.
    function reveal(Update calldata u) external {
        if (u.peer != msg.sender) revert NotPeer(u.taskId, msg.sender);
        Task storage task = _task(u.taskId);
        uint32 plusOne = uint32(u.round + 1);
        if (_participants[u.taskId][msg.sender].lastCommitPlusOne != plusOne) {
            revert NotCommitted(u.taskId, u.round, msg.sender);
        }
        (uint256 opens, uint256 closes) = _span(task, uint256(u.round) * 4 + 1);
        // Windows are minutes long and validators' clocks drift by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp < opens || block.timestamp >= closes) {
            revert NotInRevealWindow(u.round, opens, closes, block.timestamp);
        }
        if (_latestCommitment[u.taskId][msg.sender] != updateDigest(u)) {
            revert NotTheCommittedUpdate(u.taskId, u.round, msg.sender);
        }
        Membership storage member = _members[u.taskId][msg.sender];
        if (member.lastRevealPlusOne == plusOne) revert AlreadyRevealed(u.taskId, u.round, msg.sender);
        member.lastRevealPlusOne = plusOne;
        emit UpdateRevealed(u.taskId, u.round, msg.sender, u.baseHash, u.deltaHash, u.deltaSize, u.sampleCount);
    }

    /// @notice Seal an attestation in the first half of the round's attest window:
    /// seal = keccak256(abi.encode(taskId, round, msg.sender, tupleHash, salt)).
    /// Only validators in the round's weight snapshot may seal; the seal weighs the stake they
    /// have locked now.
    function sealAttestation(uint256 taskId, uint64 round, bytes32 seal) external {
        Task storage task = _tasks[taskId];
        Participant storage part = _participants[taskId][msg.sender];
        uint96 weight = part.validatorStake;
        if (weight == 0) revert NotValidator(taskId, msg.sender);
        _checkRoundOpen(task, part, taskId, round);
        if (_members[taskId][msg.sender].validatorFirstRoundPlusOne > uint256(round) + 1) {
            revert NotEligible(taskId, round, msg.sender);
        }
        (uint256 revealEnd, uint256 sealEnd) = _span(task, uint256(round) * 4 + 2);
        // slither-disable-next-line timestamp
        if (block.timestamp < revealEnd || block.timestamp >= sealEnd) {
            revert NotInSealWindow(round, revealEnd, sealEnd, block.timestamp);
        }
        if (seal == bytes32(0)) revert ZeroSeal();
        if (_attestations[taskId][round][msg.sender] != bytes32(0)) revert AlreadySealed(taskId, round, msg.sender);
        _attestations[taskId][round][msg.sender] = seal;
        _seals[taskId][round][msg.sender].weight = weight;
        emit AttestationSealed(taskId, round, msg.sender, seal, weight);
        if (task.phasesEndEarly) {
            uint256 sealedWeight = _sealedWeight[taskId][round] + weight;
            _sealedWeight[taskId][round] = sealedWeight;
            // A seal weighs at most what its validator put in the round's snapshot: the whole
            // snapshot has sealed.
            if (sealedWeight >= _quorumWeight(task, round)) {
                _endEarly(task, taskId, uint256(round) * 4 + 3, block.timestamp + 1, sealEnd);
            }
        }
    }

    /// @notice Open a sealed attestation of the round's outcome, in the second half of its attest
    /// window. The opening that brings the seal-time weight behind this exact tuple to the quorum
    /// finalizes the round (O(1) gas). Openings after that are recorded and add nothing: honest
    /// validators open at the same moment and need not race, and a late opener is paid by the
    /// weight it committed to when it sealed, before any tuple was visible.
    function attest(
        uint256 taskId,
        uint64 round,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        uint256 peerPool,
        bytes32 salt
    ) external {
        // One memory pointer instead of five stack slots: the event and the finalization need
        // every field, and the flat ABI is what nodes and tools call.
        _attest(taskId, round, Tuple(acceptedRoot, globalHash, rewardsRoot, slashRoot, peerPool), salt);
    }

    /// @notice Start `round` now, once the round before it is finalized (anyone may call, in that
    /// round's open window, on a task whose phases end early): its commit window begins with
    /// this transaction and runs at full length; late openers keep the finalized round's window.
    function startRound(uint256 taskId, uint64 round) external {
        Task storage task = _task(taskId);
        uint256 w = uint256(round) * 4;
        // Not in the finalized round's open window: the round has begun, or cannot yet.
        if (!task.phasesEndEarly || round == 0 || _positionAt(task, block.timestamp) != w) {
            revert NotStartable(taskId, round);
        }
        uint32 last = task.lastRoundPlusOne;
        if (last != 0 && round >= last) revert TaskClosed(taskId, last - 1);
        if (_rounds[taskId][round - 1].status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round - 1);
        _endEarly(task, taskId, w, block.timestamp, _begins(task, w));
    }

    /// @notice Record that a round ended without quorum (anyone may call after its attest
    /// window); the previous global adapter stays and the round takes no money.
    function markFailed(uint256 taskId, uint64 round) external {
        Task storage task = _task(taskId);
        uint256 attestEnd = _openEnd(task, taskId, round);
        // slither-disable-next-line timestamp
        if (block.timestamp < attestEnd) revert RoundNotExpired(taskId, round, attestEnd);
        Round storage r = _rounds[taskId][round];
        if (r.status == RoundStatus.Finalized) revert RoundAlreadyFinalized(taskId, round);
        if (r.status == RoundStatus.Failed) revert RoundAlreadyFailed(taskId, round);
        r.status = RoundStatus.Failed;
        emit RoundFailed(taskId, round);
    }

    // ---------------------------------------------------------------- pull payments

    /// @notice Claim the caller's reward for a finalized round with a proof against its
    /// rewardsRoot, before the claim deadline. An account is paid at most once per round (so a
    /// reward tree holds one leaf per account; `index` is that leaf's position in the list and
    /// part of its hash), and the round's peers are never paid more than its peerPool.
    function claim(uint256 taskId, uint64 round, uint256 index, uint256 amount, bytes32[] calldata proof)
        external
    {
        Round storage r = _rounds[taskId][round];
        _checkClaimable(r, taskId, round);
        uint256 position = uint256(round) + 1;
        uint256 bit = 1 << (position & 0xff);
        uint256 word = _claimedRounds[taskId][msg.sender][position >> 8];
        if (word & bit != 0) revert AlreadyClaimed(taskId, round, msg.sender);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(taskId, round, index, msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, r.rewardsRoot, leaf)) revert InvalidProof();
        uint256 left = r.peerLeft;
        if (amount > left) revert PoolExceeded(taskId, round, amount, left);
        _claimedRounds[taskId][msg.sender][position >> 8] = word | bit;
        r.peerLeft = uint96(left - amount);
        emit RewardClaimed(taskId, round, msg.sender, index, amount);
        rewardToken.safeTransfer(msg.sender, amount);
    }

    /// @notice Claim the caller's validator share of a finalized round whose final tuple it
    /// opened (also after finalization), before the claim deadline:
    /// validatorPool * sealWeight / denominator, rounded down.
    function claimValidator(uint256 taskId, uint64 round) external {
        Round storage r = _rounds[taskId][round];
        _checkClaimable(r, taskId, round);
        SealRecord storage record = _seals[taskId][round][msg.sender];
        if (record.claimed) revert AlreadyClaimed(taskId, round, msg.sender);
        (bool isFinal, uint256 validatorPool, uint256 denominator) = _finalTerms(taskId, round, msg.sender);
        if (!isFinal) revert NotFinalAttester(taskId, round, msg.sender);
        uint256 amount = validatorPool * record.weight / denominator;
        record.claimed = true;
        // Seal weights of the round's final attesters add up to at most the denominator.
        r.validatorLeft -= uint96(amount);
        emit ValidatorRewardClaimed(taskId, round, msg.sender, amount);
        rewardToken.safeTransfer(msg.sender, amount);
    }

    /// @notice After a finalized round's claim deadline, return what nobody claimed (peers'
    /// and validators') to the task's budget. Anyone may call, once per round.
    function sweep(uint256 taskId, uint64 round) external {
        Task storage task = _task(taskId);
        Round storage r = _rounds[taskId][round];
        if (r.status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        // slither-disable-next-line timestamp
        if (block.timestamp < r.claimDeadline) revert ClaimWindowOpen(taskId, round, r.claimDeadline);
        if (r.swept) revert AlreadySwept(taskId, round);
        uint256 amount = uint256(r.peerLeft) + r.validatorLeft;
        r.swept = true;
        r.peerLeft = 0;
        r.validatorLeft = 0;
        task.budget = SafeCast.toUint96(task.budget + amount);
        emit RoundSwept(taskId, round, amount, task.budget);
    }

    // ---------------------------------------------------------------- slashes

    /// @notice Execute one leaf of a finalized round's slashRoot (anyone may call, until the
    /// round's slash deadline, see `_slashDeadline`): takes min(amount, peer stake locked in
    /// this task) from a peer registered in the task for that round. The executor gets
    /// SLASH_BOUNTY_BPS of it, the task's slash pool the rest.
    function executeSlash(
        uint256 taskId,
        uint64 round,
        address account,
        uint256 amount,
        uint8 reason,
        bytes32[] calldata proof
    ) external {
        Task storage task = _task(taskId);
        Round storage r = _rounds[taskId][round];
        if (r.status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(taskId, round, account, amount, reason))));
        if (_slashed[leaf]) revert AlreadySlashed(taskId, round, account);
        if (!MerkleProof.verifyCalldata(proof, r.slashRoot, leaf)) revert InvalidProof();
        _slashed[leaf] = true;
        _slashPeer(task, taskId, round, account, amount, reason);
    }

    /// @notice Slash a validator of the round's weight snapshot that did not do its job (anyone
    /// may call, once per round and validator, until the round's slash deadline):
    /// - DISSENT_REASON, `validatorSlash`: the round finalized and it opened another tuple, or
    ///   sealed and never opened;
    /// - ABSENCE_REASON, `absenceSlash`: it never sealed, or sealed and never opened in a round
    ///   that failed; it is also ejected (a forced `leave`), so that offline stake stops
    ///   counting in the quorum from the next round's snapshot on.
    /// A validator that opened the final tuple, or any tuple of a failed round, is not slashable.
    function slashValidator(uint256 taskId, uint64 round, address validator) external {
        Task storage task = _task(taskId);
        _checkSlashDeadline(task, taskId, round);
        // After a task's last round nobody can seal: nobody is absent either.
        if (task.lastRoundPlusOne != 0 && round >= task.lastRoundPlusOne) {
            revert NotSlashable(taskId, round, validator);
        }
        bytes32 key = _validatorSlashKey(taskId, round, validator);
        if (_slashed[key]) revert AlreadySlashed(taskId, round, validator);
        Participant storage part = _participants[taskId][validator];
        if (!_tookPart(part, _members[taskId][validator].validatorFirstRoundPlusOne, round)) {
            revert NotSlashable(taskId, round, validator);
        }
        uint8 reason = _validatorFault(taskId, round, validator, _openEnd(task, taskId, round));
        uint96 stake = part.validatorStake;
        uint256 amount = _min(reason == DISSENT_REASON ? task.validatorSlash : task.absenceSlash, stake);
        if (amount == 0) revert NotSlashable(taskId, round, validator);
        _slashed[key] = true;
        part.validatorStake = stake - uint96(amount);
        if (part.exitRoundPlusOne == 0) {
            if (reason == ABSENCE_REASON) {
                // Ejected: all of its stake leaves the live weight, the slashed part included.
                _moveWeight(task, 0, stake);
                _requestExit(task, part, taskId, validator, true);
            } else {
                _moveWeight(task, 0, amount);
            }
        }
        _collect(task, taskId, round, validator, amount, reason);
    }

    /// @notice Report a peer that signed two different updates for the same task and round:
    /// its whole peer stake in the task is slashed (EQUIVOCATION_REASON), the reporter gets the
    /// bounty. Valid until the round's slash deadline, once per task, round and peer.
    function reportEquivocation(Update calldata a, bytes calldata sigA, Update calldata b, bytes calldata sigB)
        external
    {
        if (a.taskId != b.taskId || a.round != b.round || a.peer != b.peer) revert MalformedEvidence();
        bytes32 digestA = updateDigest(a);
        bytes32 digestB = updateDigest(b);
        if (digestA == digestB) revert MalformedEvidence();
        // OpenZeppelin's recover rejects malformed signatures and malleable (high-s) ones.
        if (ECDSA.recover(digestA, sigA) != a.peer || ECDSA.recover(digestB, sigB) != a.peer) {
            revert WrongSigner(a.peer);
        }
        Task storage task = _task(a.taskId);
        if (_equivocated[a.taskId][a.round][a.peer]) revert AlreadySlashed(a.taskId, a.round, a.peer);
        _equivocated[a.taskId][a.round][a.peer] = true;
        emit EquivocationReported(a.taskId, a.round, a.peer, digestA, digestB, msg.sender);
        _slashPeer(task, a.taskId, a.round, a.peer, type(uint256).max, EQUIVOCATION_REASON);
    }

    // ---------------------------------------------------------------- views

    /// @notice The task's parameters (`budget`: what is left of it now) and its live state;
    /// `validatorWeight` is the live weight (the quorum of a round uses its snapshot,
    /// `quorumWeight`).
    function taskInfo(uint256 taskId)
        external
        view
        returns (
            TaskParams memory params,
            uint256 slashPool,
            uint256 validatorWeight,
            bytes32 latestGlobal,
            bool hasFinalized,
            uint64 latestFinalizedRound
        )
    {
        Task storage task = _task(taskId);
        hasFinalized = task.finalizedPlusOne != 0;
        latestFinalizedRound = hasFinalized ? task.finalizedPlusOne - 1 : 0;
        return (_paramsOf(task), task.slashPool, task.liveWeight, task.latestGlobal, hasFinalized, latestFinalizedRound);
    }

    /// @notice Whether the task was closed, and its last round.
    function taskEnd(uint256 taskId) external view returns (bool closed, uint64 lastRound) {
        Task storage task = _task(taskId);
        closed = task.lastRoundPlusOne != 0;
        return (closed, closed ? task.lastRoundPlusOne - 1 : 0);
    }

    /// @notice Per-round state. The pools count down as peers and validators claim (the
    /// amounts at finalization are in RoundFinalized); `claimsEnd` (the claim deadline) is 0
    /// until finalization.
    function roundInfo(uint256 taskId, uint64 round)
        external
        view
        returns (
            RoundStatus status,
            bytes32 rewardsRoot,
            bytes32 slashRoot,
            uint256 peerPoolLeft,
            uint256 validatorPoolLeft,
            uint256 claimsEnd,
            bool swept
        )
    {
        Round storage r = _rounds[taskId][round];
        return (r.status, r.rewardsRoot, r.slashRoot, r.peerLeft, r.validatorLeft, r.claimDeadline, r.swept);
    }

    /// @notice The round's windows: commit [commitStart, commitEnd), reveal [commitEnd,
    /// revealEnd), attest [revealEnd, attestEnd) (openings: the second half, until attestEnd
    /// also after the quorum ended the round). Later windows are upper bounds where phases end
    /// early; a boundary before the latest early end reads 0 (PhaseEnded logs have it).
    function roundWindows(uint256 taskId, uint64 round)
        external
        view
        returns (uint256 commitStart, uint256 commitEnd, uint256 revealEnd, uint256 attestEnd)
    {
        Task storage task = _task(taskId);
        uint256 w = uint256(round) * 4;
        commitStart = _begins(task, w);
        (, commitEnd) = _span(task, w);
        (, revealEnd) = _span(task, w + 1);
        attestEnd = _openEnd(task, taskId, round);
    }

    /// @notice When the round's seal window ends and openings begin (0 once that is over and
    /// forgotten, see `roundWindows`): the attest window's middle, or earlier once the whole
    /// validator snapshot sealed.
    function sealEnd(uint256 taskId, uint64 round) external view returns (uint256 closes) {
        (, closes) = _span(_task(taskId), uint256(round) * 4 + 2);
    }

    /// @notice Where the schedule stands: window `window` (round * 4 + phase: commit, reveal,
    /// seal, open) began at `at`, and every later window follows at its full length until a
    /// phase ends early (PhaseEnded). Window 0 at the start for a task whose phases never do.
    function scheduleAnchor(uint256 taskId) external view returns (uint256 window, uint256 at) {
        Task storage task = _task(taskId);
        (window, at) = _anchor(task);
        at = task.start + _offset(task, window) - at;
    }

    /// @notice The round whose windows contain `timestamp` (0 before the task starts); exact
    /// from the latest early end on.
    function roundAt(uint256 taskId, uint256 timestamp) external view returns (uint64) {
        uint256 position = _positionAt(_task(taskId), timestamp);
        // slither-disable-next-line incorrect-equality
        return position == 0 ? 0 : uint64((position - 1) >> 2);
    }

    /// @notice The phase of `round` at `timestamp` (from the latest early end on): a recorded
    /// outcome wins; an open round past its attest window has failed even if nobody called
    /// `markFailed`.
    function phaseAt(uint256 taskId, uint64 round, uint256 timestamp) external view returns (Phase) {
        RoundStatus status = _rounds[taskId][round].status;
        // An enum this contract records, not a balance or a time: equality is exact.
        // slither-disable-next-line incorrect-equality,timestamp
        if (status == RoundStatus.Finalized) return Phase.Finalized;
        // slither-disable-next-line incorrect-equality,timestamp
        if (status == RoundStatus.Failed) return Phase.Failed;
        uint256 position = _positionAt(_task(taskId), timestamp);
        uint256 first = uint256(round) * 4 + 1;
        if (position < first) return Phase.NotStarted;
        // slither-disable-next-line incorrect-equality
        if (position == first) return Phase.Commit;
        // slither-disable-next-line incorrect-equality
        if (position == first + 1) return Phase.Reveal;
        if (position < first + 4) return Phase.Attest;
        return Phase.Failed;
    }

    /// @notice The quorum denominator of `round`: the validator weight when it began. Exact
    /// for the current round and any later one (which see the live weight so far); for a
    /// finalized round see RoundFinalized or `validatorPayOf`.
    function quorumWeight(uint256 taskId, uint64 round) external view returns (uint256) {
        return _quorumWeight(_task(taskId), round);
    }

    /// @notice A participant's stakes locked in a task, per role the first round its
    /// registration counts in plus one (0: not registered), its
    /// pending exit (the last round it takes part in; stake released at the end of the next
    /// round) and its lifetime slashed total.
    function participantOf(uint256 taskId, address account)
        external
        view
        returns (
            uint256 peerStake,
            uint256 validatorStake,
            uint256 peerFirstRoundPlusOne,
            uint256 validatorFirstRoundPlusOne,
            bool exiting,
            uint64 exitRound,
            uint256 slashed
        )
    {
        Participant storage part = _participants[taskId][account];
        Membership storage member = _members[taskId][account];
        exiting = part.exitRoundPlusOne != 0;
        return (
            part.peerStake,
            part.validatorStake,
            member.peerFirstRoundPlusOne,
            member.validatorFirstRoundPlusOne,
            exiting,
            exiting ? part.exitRoundPlusOne - 1 : 0,
            member.slashed
        );
    }

    /// @notice The commitment a peer made in a round, if that is its latest one (zero if none);
    /// earlier commitments are in the UpdateCommitted logs.
    function commitmentOf(uint256 taskId, uint64 round, address peer) external view returns (bytes32) {
        if (_participants[taskId][peer].lastCommitPlusOne != uint256(round) + 1) return bytes32(0);
        return _latestCommitment[taskId][peer];
    }

    /// @notice The tuple hash a validator opened in a round, its seal while unopened, zero if
    /// neither.
    function attestationOf(uint256 taskId, uint64 round, address validator) external view returns (bytes32) {
        return _attestations[taskId][round][validator];
    }

    /// @notice The weight a validator's seal fixed for a round (0 if it did not seal).
    function sealWeightOf(uint256 taskId, uint64 round, address validator) external view returns (uint256) {
        return _seals[taskId][round][validator].weight;
    }

    /// @notice Seal-time weight behind a tuple; for the finalized tuple, `isFinal` is true
    /// and the weight is in RoundFinalized.
    function supportOf(uint256 taskId, uint64 round, bytes32 tupleHash)
        external
        view
        returns (uint256 weight, bool isFinal)
    {
        uint256 support = _support[taskId][round][tupleHash];
        return support & FINAL != 0 ? (0, true) : (support, false);
    }

    /// @notice What `claimValidator` pays (or paid) a validator for a round, and whether it did.
    function validatorPayOf(uint256 taskId, uint64 round, address validator)
        external
        view
        returns (uint256 amount, bool claimed)
    {
        (bool isFinal, uint256 validatorPool, uint256 denominator) = _finalTerms(taskId, round, validator);
        SealRecord storage record = _seals[taskId][round][validator];
        return (isFinal ? validatorPool * record.weight / denominator : 0, record.claimed);
    }

    /// @notice Whether an account has claimed its peer reward of a round.
    function isClaimed(uint256 taskId, uint64 round, address account) external view returns (bool) {
        uint256 position = uint256(round) + 1;
        return _claimedRounds[taskId][account][position >> 8] & (1 << (position & 0xff)) != 0;
    }

    /// @notice Whether a validator has claimed its share of a round.
    function isValidatorClaimed(uint256 taskId, uint64 round, address validator) external view returns (bool) {
        return _seals[taskId][round][validator].claimed;
    }

    /// @notice Whether a slash was executed: `key` is a slash leaf's StandardMerkleTree hash or
    /// keccak256(abi.encode(taskId, round, validator)) for a `slashValidator` slash
    /// (loraswarm.protocol.chain.slash_leaf_key, validator_slash_key).
    function isSlashed(bytes32 key) external view returns (bool) {
        return _slashed[key];
    }

    /// @notice Whether a peer was reported for equivocation in a round (validators reject its
    /// updates of that round).
    function isEquivocated(uint256 taskId, uint64 round, address peer) external view returns (bool) {
        return _equivocated[taskId][round][peer];
    }

    /// @notice When claims of a finalized round end (0 if it is not finalized).
    function claimDeadline(uint256 taskId, uint64 round) external view returns (uint256) {
        return _rounds[taskId][round].claimDeadline;
    }

    /// @notice The EIP-712 digest of an Update under this contract's domain: what the peer
    /// signs and commits.
    function updateDigest(Update calldata u) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    UPDATE_TYPEHASH,
                    u.taskId,
                    u.round,
                    u.peer,
                    u.baseHash,
                    u.deltaHash,
                    u.deltaSize,
                    u.sampleCount,
                    u.codecId,
                    u.salt
                )
            )
        );
    }

    /// @dev The `isSlashed` key of a `slashValidator` slash (loraswarm.protocol.chain.validator_slash_key).
    function _validatorSlashKey(uint256 taskId, uint64 round, address validator) private pure returns (bytes32) {
        return keccak256(abi.encode(taskId, round, validator));
    }

    // ---------------------------------------------------------------- internals: registration

    function _task(uint256 taskId) private view returns (Task storage task) {
        task = _tasks[taskId];
        if (task.commitWindow == 0) revert UnknownTask(taskId);
    }

    function _checkOpen(Task storage task, uint256 taskId) private view {
        if (task.lastRoundPlusOne != 0) revert TaskClosed(taskId, task.lastRoundPlusOne - 1);
    }

    function _checkNoExit(Task storage task, Participant storage part, uint256 taskId, address account)
        private
        view
    {
        if (part.exitRoundPlusOne != 0) {
            revert ExitPending(taskId, account, _releaseAt(task, taskId, part.exitRoundPlusOne));
        }
    }

    /// @dev Bind the caller to `taskId` (one task per account) and return its records.
    function _join(Task storage task, uint256 taskId)
        private
        returns (Participant storage part, Membership storage member)
    {
        _checkOpen(task, taskId);
        uint256 current = activeTask[msg.sender];
        if (current != 0 && current != taskId) revert BusyInAnotherTask(msg.sender, current);
        part = _participants[taskId][msg.sender];
        _checkNoExit(task, part, taskId, msg.sender);
        activeTask[msg.sender] = taskId;
        if (_claimedRounds[taskId][msg.sender][0] == 0) _claimedRounds[taskId][msg.sender][0] = 1;
        member = _members[taskId][msg.sender];
    }

    /// @dev Start an exit at the current round k: weight out of the live weight now (a forced
    /// exit's caller has moved it already), stake locked until the end of round k + 1.
    function _requestExit(Task storage task, Participant storage part, uint256 taskId, address account, bool forced)
        private
    {
        uint64 round = _currentKey(task) - 1;
        part.exitRoundPlusOne = SafeCast.toUint32(uint256(round) + 1);
        if (!forced) _moveWeight(task, 0, part.validatorStake);
        emit ExitRequested(taskId, account, round, _releaseAt(task, taskId, part.exitRoundPlusOne), forced);
    }

    /// @dev Unlock the caller's stakes and free it for another task (its weight already left).
    function _release(uint256 taskId, Participant storage part) private {
        uint256 released = uint256(part.peerStake) + part.validatorStake;
        part.peerStake = 0;
        part.validatorStake = 0;
        part.exitRoundPlusOne = 0;
        Membership storage member = _members[taskId][msg.sender];
        Task storage task = _tasks[taskId];
        if (member.peerFirstRoundPlusOne != 0 && task.phasesEndEarly) task.tally.peers -= 1;
        member.peerFirstRoundPlusOne = 0;
        member.validatorFirstRoundPlusOne = 0;
        activeTask[msg.sender] = 0;
        emit ParticipantLeft(taskId, msg.sender, released);
        staking.unlock(msg.sender, released);
    }

    /// @dev The slash deadline of the last round taken part in (an upper bound while that round
    /// is ahead: phases can only end earlier).
    function _releaseAt(Task storage task, uint256 taskId, uint32 exitRoundPlusOne) private view returns (uint256) {
        return _slashDeadline(task, taskId, exitRoundPlusOne - 1);
    }

    /// @dev Commits and seals are for rounds the task still runs and the account still takes
    /// part in.
    function _checkRoundOpen(Task storage task, Participant storage part, uint256 taskId, uint64 round) private view {
        uint32 last = task.lastRoundPlusOne;
        if (last != 0 && round >= last) revert TaskClosed(taskId, last - 1);
        uint32 exit = part.exitRoundPlusOne;
        if (exit != 0 && round >= exit) revert NotEligible(taskId, round, msg.sender);
    }

    // ---------------------------------------------------------------- internals: weight

    /// @dev Period key of now: 0 before the start, round + 1 after.
    function _currentKey(Task storage task) private view returns (uint64) {
        uint256 position = _positionAt(task, block.timestamp);
        // Window numbers, not times: equality is exact (so in every schedule helper below).
        // slither-disable-next-line incorrect-equality
        return position == 0 ? 0 : uint64(((position - 1) >> 2) + 1);
    }

    /// @dev Change the live validator weight, first checkpointing the weight the current period
    /// began with if this is the period's first change.
    function _moveWeight(Task storage task, uint256 add, uint256 sub) private {
        uint64 key = _currentKey(task);
        uint96 live = task.liveWeight;
        // Keys are round numbers: rounds are defined by time, by design.
        // slither-disable-next-line timestamp
        if (task.checkpointKey != key) {
            task.checkpointKey = SafeCast.toUint32(key);
            task.checkpointWeight = live;
        }
        task.liveWeight = SafeCast.toUint96(uint256(live) + add - sub);
    }

    function _quorumWeight(Task storage task, uint64 round) private view returns (uint256) {
        return task.checkpointKey == uint256(round) + 1 ? task.checkpointWeight : task.liveWeight;
    }

    // ---------------------------------------------------------------- internals: rounds, money

    /// @dev The end of the round's attest window, after checking that openings are due (its
    /// second half; a finalized round keeps it for late openers).
    function _checkOpenWindow(Task storage task, Round storage r, uint256 taskId, uint64 round)
        private
        view
        returns (uint256 attestEnd)
    {
        uint256 sealEnd = 0; // a finalized round is past its seal window
        // An enum this contract records, not a balance or a time: equality is exact.
        // slither-disable-next-line incorrect-equality
        if (r.status == RoundStatus.Finalized) {
            attestEnd = r.claimDeadline - task.claimWindow;
        } else {
            (sealEnd, attestEnd) = _span(task, uint256(round) * 4 + 3);
        }
        // slither-disable-next-line timestamp
        if (block.timestamp < sealEnd || block.timestamp >= attestEnd) {
            revert NotInAttestWindow(round, sealEnd, attestEnd, block.timestamp);
        }
    }

    /// @dev Replace the caller's seal by the tuple it seals (`tupleHash` of `t`) and log the
    /// attestation; returns the seal's weight.
    function _open(uint256 taskId, uint64 round, bytes32 tupleHash, bytes32 salt, Tuple memory t)
        private
        returns (uint256 weight)
    {
        mapping(address validator => bytes32) storage attestations = _attestations[taskId][round];
        bytes32 stored = attestations[msg.sender];
        if (stored == tupleHash) revert AlreadyAttested(taskId, round, msg.sender);
        if (stored == bytes32(0)) revert NotSealed(taskId, round, msg.sender);
        if (stored != keccak256(abi.encode(taskId, round, msg.sender, tupleHash, salt))) {
            revert SealMismatch(taskId, round, msg.sender);
        }
        // Overwrites the seal: a non-zero -> non-zero store, cheaper than the first write.
        attestations[msg.sender] = tupleHash;
        weight = _seals[taskId][round][msg.sender].weight;
        emit Attested(
            taskId, round, msg.sender, t.acceptedRoot, t.globalHash, t.rewardsRoot, t.slashRoot,
            t.peerPool, weight
        );
    }

    function _attest(uint256 taskId, uint64 round, Tuple memory t, bytes32 salt) private {
        Task storage task = _tasks[taskId];
        Round storage r = _rounds[taskId][round];
        uint256 attestEnd = _checkOpenWindow(task, r, taskId, round);
        bytes32 tupleHash = keccak256(abi.encode(t));
        uint256 weight = _open(taskId, round, tupleHash, salt, t);
        if (r.status == RoundStatus.Finalized) return;
        mapping(bytes32 tupleHash => uint256) storage supported = _support[taskId][round];
        uint256 support = supported[tupleHash] + weight;
        uint256 denominator = _quorumWeight(task, round);
        if (support * BPS < uint256(task.quorumBps) * denominator) {
            supported[tupleHash] = support;
            return;
        }
        uint256 validatorPool = _takePools(task, t.peerPool);
        // Quorum: finalize. Only constant-size state is written, whatever the number of peers.
        supported[tupleHash] = FINAL | (validatorPool << 96) | denominator;
        task.finalizedPlusOne = SafeCast.toUint32(uint256(round) + 1);
        task.latestGlobal = t.globalHash;
        r.rewardsRoot = t.rewardsRoot;
        r.slashRoot = t.slashRoot;
        r.peerLeft = SafeCast.toUint96(t.peerPool);
        r.validatorLeft = SafeCast.toUint96(validatorPool);
        r.claimDeadline = uint40(attestEnd + task.claimWindow);
        r.status = RoundStatus.Finalized;
        _emitFinalized(taskId, round, t, validatorPool, support, denominator);
    }

    function _emitFinalized(
        uint256 taskId,
        uint64 round,
        Tuple memory t,
        uint256 validatorPool,
        uint256 support,
        uint256 denominator
    ) private {
        emit RoundFinalized(
            taskId, round, t.acceptedRoot, t.globalHash, t.rewardsRoot, t.slashRoot, t.peerPool, validatorPool,
            support, denominator
        );
    }

    /// @dev Take the attested peer pool and the validators' share of what is available now
    /// (min(rewardPerRound, budget) + slashPool; it can only have grown since the validators
    /// read it) from the slash pool first, then from the budget. Returns the validators' pool.
    function _takePools(Task storage task, uint256 peerPool) private returns (uint256 validatorPool) {
        uint256 budget = task.budget;
        uint256 slashPool = task.slashPool;
        uint256 available = _min(task.rewardPerRound, budget) + slashPool;
        validatorPool = available * task.validatorBps / BPS;
        if (peerPool > available - validatorPool) revert PoolUnavailable(peerPool, available - validatorPool);
        uint256 take = peerPool + validatorPool;
        uint256 fromSlashes = _min(take, slashPool);
        task.slashPool = uint96(slashPool - fromSlashes);
        task.budget = uint96(budget - (take - fromSlashes));
    }

    /// @dev (isFinal, validatorPool, denominator) of the tuple `validator` opened in a round.
    function _finalTerms(uint256 taskId, uint64 round, address validator)
        private
        view
        returns (bool isFinal, uint256 validatorPool, uint256 denominator)
    {
        uint256 support = _support[taskId][round][_attestations[taskId][round][validator]];
        return (support & FINAL != 0, (support >> 96) & LOW96, support & LOW96);
    }

    function _checkClaimable(Round storage r, uint256 taskId, uint64 round) private view {
        if (r.status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        // slither-disable-next-line timestamp
        if (block.timestamp >= r.claimDeadline) revert ClaimExpired(taskId, round, r.claimDeadline);
    }

    // ---------------------------------------------------------------- internals: slashes

    /// @dev Slashes of a finalized round close a period after its openings do (with fixed
    /// windows: when the next round's openings close), so a seal left unopened can be slashed
    /// for a whole period however fast the next rounds run; those of a round without quorum
    /// when the next round's openings close. `release` waits for exactly that.
    function _slashDeadline(Task storage task, uint256 taskId, uint64 round) private view returns (uint256) {
        Round storage r = _rounds[taskId][round];
        // slither-disable-next-line incorrect-equality
        if (r.status == RoundStatus.Finalized) return r.claimDeadline - task.claimWindow + _period(task);
        return _openEnd(task, taskId, round + 1);
    }

    function _checkSlashDeadline(Task storage task, uint256 taskId, uint64 round) private view {
        uint256 deadline = _slashDeadline(task, taskId, round);
        // slither-disable-next-line timestamp
        if (block.timestamp >= deadline) revert SlashExpired(taskId, round, deadline);
    }

    /// @dev Registered in the role for `round` and not exited before it.
    function _tookPart(Participant storage part, uint32 firstRoundPlusOne, uint64 round)
        private
        view
        returns (bool)
    {
        uint32 exit = part.exitRoundPlusOne;
        return firstRoundPlusOne != 0 && firstRoundPlusOne <= uint256(round) + 1 && (exit == 0 || round < exit);
    }

    /// @dev DISSENT_REASON or ABSENCE_REASON for a validator of the round's snapshot; reverts if
    /// it did its job or may still do it. "Opened" = the tuple it holds has support: a seal
    /// hash never gets any, and before finalization every opening adds its (non-zero) weight.
    function _validatorFault(uint256 taskId, uint64 round, address validator, uint256 attestEnd)
        private
        view
        returns (uint8)
    {
        RoundStatus status = _rounds[taskId][round].status;
        bytes32 attested = _attestations[taskId][round][validator];
        uint256 support = attested == bytes32(0) ? 0 : _support[taskId][round][attested];
        // slither-disable-next-line timestamp
        bool expired = block.timestamp >= attestEnd;
        // An enum this contract records, not a balance or a time: equality is exact.
        // slither-disable-next-line incorrect-equality
        if (status == RoundStatus.Finalized) {
            // Finalization comes after the seal window: a validator without a seal stays so.
            if (attested == bytes32(0)) return ABSENCE_REASON;
            if (support & FINAL != 0) revert NotSlashable(taskId, round, validator);
            // An unopened seal may still open the final tuple until the window closes.
            if (support == 0 && !expired) revert RoundNotExpired(taskId, round, attestEnd);
            return DISSENT_REASON;
        }
        if (!expired) revert RoundNotExpired(taskId, round, attestEnd);
        if (support != 0) revert NotSlashable(taskId, round, validator);
        return ABSENCE_REASON;
    }

    /// @dev A peer slash: from the peer stake locked in this task, by a peer registered for the
    /// round (before its commits closed, not exited before it), capped at that stake.
    function _slashPeer(
        Task storage task,
        uint256 taskId,
        uint64 round,
        address account,
        uint256 amount,
        uint8 reason
    ) private {
        _checkSlashDeadline(task, taskId, round);
        Participant storage part = _participants[taskId][account];
        uint96 stake = part.peerStake;
        amount = _min(amount, stake);
        if (amount == 0 || !_tookPart(part, _members[taskId][account].peerFirstRoundPlusOne, round)) {
            revert NotSlashable(taskId, round, account);
        }
        part.peerStake = stake - uint96(amount);
        _collect(task, taskId, round, account, amount, reason);
    }

    /// @dev Effects first (pool, totals), then the external calls: the escrow sends the slashed
    /// tokens here, and the executor's bounty goes on to it.
    function _collect(Task storage task, uint256 taskId, uint64 round, address account, uint256 amount, uint8 reason)
        private
    {
        uint256 bounty = amount * SLASH_BOUNTY_BPS / BPS;
        task.slashPool += SafeCast.toUint96(amount - bounty);
        _members[taskId][account].slashed += uint96(amount);
        emit SlashExecuted(taskId, round, account, amount, reason, msg.sender, bounty);
        staking.slash(account, amount);
        if (bounty != 0) rewardToken.safeTransfer(msg.sender, bounty);
    }

    // ---------------------------------------------------------------- internals: parameters, time

    function _checkParams(TaskParams calldata p) private pure {
        // Above one half, two different tuples can never both reach the quorum.
        if (p.quorumBps <= BPS / 2 || p.quorumBps > BPS) revert QuorumOutOfRange(p.quorumBps);
        if (p.validatorBps > BPS) revert ValidatorShareOutOfRange(p.validatorBps);
        // The attest window is halved into seal and open windows; each needs a second at least.
        if (p.commitWindow == 0 || p.revealWindow == 0 || p.attestWindow < 2) revert EmptyWindow();
        if (p.commitWindow > MAX_WINDOW || p.revealWindow > MAX_WINDOW || p.attestWindow > MAX_WINDOW) {
            revert WindowTooLong(MAX_WINDOW);
        }
        // Claims end after the next round's slash deadline: a round's pool is never swept while
        // slashes of the round before could still reach its peers.
        uint256 period = uint256(p.commitWindow) + p.revealWindow + p.attestWindow;
        if (p.claimWindow < period) revert ClaimWindowTooShort(p.claimWindow, period);
        // A zero minimum would make "registered" indistinguishable from a zero locked stake.
        if (p.minPeerStake == 0 || p.minValidatorStake == 0) revert ZeroMinimumStake();
        // No bound ties the period to Staking.withdrawalDelay: slashes take only locked stake,
        // and a leaver's stake stays locked until its last slash deadline has passed (`release`),
        // so the unstake delay no longer has to outlast any round.
        if (p.initialGlobalHash == bytes32(0) || p.specHash == bytes32(0)) revert ZeroHash();
    }

    function _paramsOf(Task storage task) private view returns (TaskParams memory) {
        return TaskParams({
            specHash: task.specHash,
            baseModelHash: task.baseModelHash,
            initialGlobalHash: task.initialGlobal,
            aggregationRule: task.aggregationRule,
            quorumBps: task.quorumBps,
            validatorBps: task.validatorBps,
            startTime: task.start,
            commitWindow: task.commitWindow,
            revealWindow: task.revealWindow,
            attestWindow: task.attestWindow,
            claimWindow: task.claimWindow,
            rewardPerRound: task.rewardPerRound,
            minPeerStake: task.minPeerStake,
            minValidatorStake: task.minValidatorStake,
            validatorSlash: task.validatorSlash,
            absenceSlash: task.absenceSlash,
            phasesEndEarly: task.phasesEndEarly,
            budget: task.budget
        });
    }

    /// @dev Where window `w` (round * 4 + phase: commit, reveal, seal, open) begins on the
    /// schedule without early ends, counted from round 0's start: an early end shifts every
    /// window from the anchor on by the same amount.
    function _offset(Task storage task, uint256 w) private view returns (uint256 at) {
        // slither-disable-next-line incorrect-equality
        if (w == 0) return 0;
        uint256 commitWindow = task.commitWindow;
        uint256 revealWindow = task.revealWindow;
        uint256 attestWindow = task.attestWindow;
        uint256 phase = w & 3;
        // Windows are below 2^24 s and w below 2^67 (a uint64 round): no overflow.
        unchecked {
            at = (w >> 2) * (commitWindow + revealWindow + attestWindow);
            if (phase > 0) at += commitWindow;
            if (phase > 1) at += revealWindow;
            if (phase > 2) at += attestWindow / 2;
        }
    }

    /// @dev The window the schedule is anchored at, and by how much every window from it on
    /// begins before the full-length schedule's time (0 and 0 until a phase ends early).
    function _anchor(Task storage task) private view returns (uint256 window, uint256 shift) {
        if (!task.phasesEndEarly) return (0, 0);
        return (task.anchorWindow, task.anchorShift);
    }

    /// @dev When window `w` begins: windows from the anchor on follow at full length; 0 for
    /// one before it (over; its time is in the PhaseEnded logs).
    function _begins(Task storage task, uint256 w) private view returns (uint256) {
        (uint256 anchor, uint256 shift) = _anchor(task);
        if (w < anchor) return 0;
        // The shift is at most the anchor's offset (see `_endEarly`), so at most w's.
        unchecked {
            return task.start + _offset(task, w) - shift;
        }
    }

    /// @dev [opens, closes) of window `w`. The window before the anchor closes at the anchor
    /// (its opening reads 0); earlier ones are over: (0, 0).
    function _span(Task storage task, uint256 w) private view returns (uint256 opens, uint256 closes) {
        (uint256 anchor, uint256 shift) = _anchor(task);
        // The shift is at most the anchor's offset (see `_endEarly`); times and windows are far
        // below 2^256: no overflow or underflow.
        unchecked {
            // slither-disable-next-line incorrect-equality
            if (w + 1 == anchor) return (0, task.start + _offset(task, anchor) - shift);
            if (w < anchor) return (0, 0);
            opens = task.start + _offset(task, w) - shift;
            uint256 phase = w & 3;
            uint256 attestWindow = task.attestWindow;
            // slither-disable-next-line incorrect-equality
            closes = opens + (phase == 0 ? task.commitWindow : phase == 1 ? task.revealWindow
                : phase == 2 ? attestWindow / 2 : attestWindow - attestWindow / 2);
        }
    }

    /// @dev The window containing `timestamp`, plus one (0 before the start). Exact from the
    /// window before the anchor on, which covers every timestamp of the current block.
    function _positionAt(Task storage task, uint256 timestamp) private view returns (uint256) {
        (uint256 anchor, uint256 shift) = _anchor(task);
        uint256 start = task.start;
        // slither-disable-next-line timestamp
        if (timestamp + shift < start) return 0;
        // The full-length schedule's time, then its window: before the anchor's means the
        // window that the anchor ended early.
        uint256 at = timestamp + shift - start;
        uint256 period = _period(task);
        // Whole rounds (flooring is the point), then the phase within the round: time
        // arithmetic, not randomness.
        // slither-disable-next-line weak-prng
        uint256 into = at % period;
        uint256 window = ((at - into) / period) << 2;
        uint256 edge = task.commitWindow;
        if (into >= edge) {
            edge += task.revealWindow;
            window += into < edge ? 1 : into < edge + task.attestWindow / 2 ? 2 : 3;
        }
        return window < anchor ? anchor : window + 1;
    }

    /// @dev When round `round`'s openings close: fixed at finalization (a quorum that ends the
    /// round early leaves late openers their window), else the end of its open window; 0 once
    /// that is over and forgotten.
    function _openEnd(Task storage task, uint256 taskId, uint64 round) private view returns (uint256 closes) {
        Round storage r = _rounds[taskId][round];
        // slither-disable-next-line incorrect-equality
        if (r.status == RoundStatus.Finalized) return r.claimDeadline - task.claimWindow;
        (, closes) = _span(task, uint256(round) * 4 + 3);
    }

    /// @dev Window `next`, due at `due`, begins at `at` instead: everyone the window before
    /// waits for has acted (then `at` is the next second: the rest of this block's second still
    /// sees the window that ended), or `startRound` starts it now.
    function _endEarly(Task storage task, uint256 taskId, uint256 next, uint256 at, uint256 due) private {
        // A second action in the ending block's second finds the window ended already.
        uint32 anchor = task.anchorWindow;
        if (next <= anchor) return;
        // Grows by at most a period per round (windows below 2^24 s): 2^56 s outlasts any task.
        // `at` <= `due` (the action came before the window was due), and the new shift,
        // start + offset(next) - at, is at most offset(next): every window from the anchor on
        // begins after the start.
        uint256 shift;
        unchecked {
            shift = task.anchorShift + due - at;
        }
        (task.anchorWindow, task.anchorShift) = (SafeCast.toUint32(next), SafeCast.toUint56(shift));
        emit PhaseEnded(taskId, next, at);
    }

    function _period(Task storage task) private view returns (uint256) {
        return uint256(task.commitWindow) + task.revealWindow + task.attestWindow;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
