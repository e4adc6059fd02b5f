// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Staking} from "./Staking.sol";

/// @title loraswarm task and round coordinator
/// @notice Tasks, registrations, commit/attest rounds, Merkle reward claims and Merkle slashes.
///
/// Time: a task's rounds follow from block timestamps alone. Round r of a task starting at
/// `start` with windows (c, v, a) and period p = c + v + a has
///   commit window [start + r*p, +c), reveal window [.., +v), attest window [.., +a).
/// Nothing waits for a missing peer: a commit after its window reverts, and a round without a
/// validator quorum by the end of its attest window has failed (the previous global stays).
///
/// Quorum: the attestation that brings the stake of the validators who attested the same
/// (acceptedRoot, globalHash, rewardsRoot, slashRoot) to `quorumBps` of the task's validator
/// stake finalizes the round in O(1) gas, whatever the number of peers.
///
/// Attestations are sealed, then opened: in the first half of the attest window a validator
/// stores seal = keccak256(abi.encode(taskId, round, validator, tupleHash, salt)) and in the
/// second half it opens it with `attest`. No tuple is visible on chain before every seal is in,
/// so a validator that copies others' attestations instead of validating has nothing to copy.
/// A seal that is never opened (or cannot be) counts as dissent and can be slashed.
///
/// Money: the owner deposits the reward reserve; `createTask` moves a budget from it to the task.
/// On finalization the round's pool = min(rewardPerRound, budget) + all tokens slashed in the task
/// since the previous finalization. Peers and validators pull their share with a Merkle proof
/// (`claim`), and the total paid for a round can never exceed its pool. Slashes against the
/// round's slashRoot are executed one by one by anyone (`executeSlash`, O(log N)); a validator who
/// attested a tuple other than the finalized one can be slashed by anyone (`slashDissenter`).
///
/// Merkle leaves follow OpenZeppelin's StandardMerkleTree: keccak256(keccak256(abi.encode(..))).
///   reward leaf: (uint256 taskId, uint256 round, uint256 index, address account, uint256 amount)
///   slash leaf:  (uint256 taskId, uint256 round, address account, uint256 amount, uint8 reason)
/// A reward tree holds one leaf per account; `index` is its position in the list. An account is
/// paid at most once per round (a per-account bitmap of claimed rounds).
///
/// Registration: an account takes part in one task at a time, so its locked stake backs exactly
/// one task; a validator's weight is the stake it locked for the task.
contract Coordinator is Ownable {
    using SafeERC20 for IERC20;

    /// @notice Everything `createTask` fixes for the life of a task.
    struct TaskParams {
        bytes32 baseModelHash;
        bytes32 initialGlobalHash;
        uint16 aggregationRule;
        uint16 quorumBps;
        uint64 startTime;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 attestWindow;
        uint128 rewardPerRound;
        uint128 minPeerStake;
        uint128 minValidatorStake;
        uint128 validatorSlash;
        uint128 budget;
    }

    /// @dev Packed so that commit reads one slot and a finalizing attestation four.
    struct Task {
        // slot 0: timing and quorum
        uint64 start;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 attestWindow;
        uint16 quorumBps;
        uint16 aggregationRule;
        bool exists;
        // slot 1
        uint128 minPeerStake;
        uint128 minValidatorStake;
        // slot 2: money waiting for the next finalization, and the newest finalized round + 1
        uint96 budget;
        uint96 slashPool;
        uint64 finalizedPlusOne;
        // slot 3
        uint128 rewardPerRound;
        uint128 validatorWeight;
        // slot 4
        uint128 validatorSlash;
        // slot 5, 6, 7
        bytes32 latestGlobal;
        bytes32 baseModelHash;
        bytes32 initialGlobal;
    }

    struct Round {
        bytes32 rewardsRoot;
        bytes32 slashRoot;
        uint96 pool;
        uint96 claimed;
        RoundStatus status;
    }

    /// @dev One slot, read and written by commit. lastCommitPlusOne survives `leave`, so that
    /// leaving and re-registering cannot buy a second commitment in the same round.
    struct Participant {
        uint96 peerStake;
        uint96 validatorStake;
        uint64 lastCommitPlusOne;
    }

    /// @dev Kept after `leave`; registeredAt != 0 keeps the slot non-zero so that claim updates
    /// it at the cheap non-zero -> non-zero price.
    struct Totals {
        uint64 registeredAt;
        uint96 claimed;
        uint96 slashed;
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
    error EmptyWindow();
    error ZeroMinimumStake();
    error ZeroInitialGlobal();
    error PeriodExceedsUnstakeDelay(uint256 period, uint256 withdrawalDelay);
    error InsufficientReserve(uint256 requested, uint256 reserve);
    error UnknownTask(uint256 taskId);
    error ZeroAmount();
    error BusyInAnotherTask(address account, uint256 taskId);
    error AlreadyRegistered(uint256 taskId, address account);
    error NotRegistered(uint256 taskId, address account);
    error StakeBelowMinimum(uint256 amount, uint256 minimum);
    error NotPeer(uint256 taskId, address account);
    error NotValidator(uint256 taskId, address account);
    error NotInCommitWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error NotInAttestWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error ZeroCommitment();
    error AlreadyCommitted(uint256 taskId, uint64 round, address peer);
    error AlreadyAttested(uint256 taskId, uint64 round, address validator);
    error NotInSealWindow(uint64 round, uint256 opens, uint256 closes, uint256 nowTs);
    error ZeroSeal();
    error AlreadySealed(uint256 taskId, uint64 round, address validator);
    error NotSealed(uint256 taskId, uint64 round, address validator);
    error SealMismatch(uint256 taskId, uint64 round, address validator);
    error RoundAlreadyFinalized(uint256 taskId, uint64 round);
    error RoundAlreadyFailed(uint256 taskId, uint64 round);
    error RoundNotExpired(uint256 taskId, uint64 round, uint256 attestEnd);
    error RoundNotFinalized(uint256 taskId, uint64 round);
    error InvalidProof();
    error AlreadyClaimed(uint256 taskId, uint64 round, address account);
    error PoolExceeded(uint256 taskId, uint64 round, uint256 amount, uint256 left);
    error AlreadySlashed(uint256 taskId, uint64 round, address account);
    error NotADissenter(uint256 taskId, uint64 round, address validator);

    event ReserveDeposited(address indexed from, uint256 amount, uint256 reserve);
    event TaskCreated(
        uint256 indexed taskId,
        bytes32 baseModelHash,
        bytes32 initialGlobalHash,
        uint16 aggregationRule,
        uint16 quorumBps,
        uint64 startTime,
        uint32 commitWindow,
        uint32 revealWindow,
        uint32 attestWindow,
        uint256 rewardPerRound,
        uint256 budget
    );
    event TaskFunded(uint256 indexed taskId, address indexed from, uint256 amount, uint256 budget);
    event PeerRegistered(uint256 indexed taskId, address indexed account, uint256 stake);
    event ValidatorRegistered(uint256 indexed taskId, address indexed account, uint256 stake);
    event ParticipantLeft(uint256 indexed taskId, address indexed account, uint256 released);
    event UpdateCommitted(uint256 indexed taskId, uint64 indexed round, address indexed peer, bytes32 commitment);
    event AttestationSealed(uint256 indexed taskId, uint64 indexed round, address indexed validator, bytes32 seal);
    event Attested(
        uint256 indexed taskId,
        uint64 indexed round,
        address indexed validator,
        bytes32 tupleHash,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        uint256 weight
    );
    event RoundFinalized(
        uint256 indexed taskId,
        uint64 indexed round,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        uint256 pool,
        uint256 support
    );
    event RoundFailed(uint256 indexed taskId, uint64 indexed round);
    event RewardClaimed(
        uint256 indexed taskId, uint64 indexed round, address indexed account, uint256 index, uint256 amount
    );
    event SlashExecuted(
        uint256 indexed taskId, uint64 indexed round, address indexed account, uint256 amount, uint8 reason
    );

    /// @notice Reason recorded for `slashDissenter` slashes; leaf reasons are the protocol's
    /// reason codes (loraswarm.protocol.codes.Reason), all below this value.
    uint8 public constant DISSENT_REASON = 255;
    uint16 public constant BPS = 10_000;
    /// @dev `support` value that marks the finalized tuple of a round (no real stake reaches it).
    uint256 private constant FINAL = type(uint256).max;
    /// @dev Placeholder commitment of a registered peer that has not committed yet.
    bytes32 private constant NO_COMMITMENT = bytes32(uint256(1));

    /// @notice The reward token.
    IERC20 public immutable rewardToken;
    /// @notice The stake escrow this coordinator locks and slashes.
    Staking public immutable staking;
    /// @notice Tokens held for tasks not yet created.
    uint256 public reserve;
    /// @notice Number of tasks; task ids are 1..taskCount (0 means "no task").
    uint256 public taskCount;
    /// @notice The task an account is registered in, 0 if none.
    mapping(address account => uint256 taskId) public activeTask;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint64 round => Round)) private _rounds;
    mapping(uint256 taskId => mapping(address account => Participant)) private _participants;
    mapping(uint256 taskId => mapping(address account => Totals)) private _totals;
    /// @dev A peer's latest commitment (older ones are in UpdateCommitted logs). Registration
    /// stores NO_COMMITMENT here so that every commit rewrites a non-zero slot (5k gas, not 22k).
    mapping(uint256 taskId => mapping(address peer => bytes32)) private _latestCommitment;
    mapping(uint256 taskId => mapping(uint64 round => mapping(address validator => bytes32))) private _attestations;
    mapping(uint256 taskId => mapping(uint64 round => mapping(bytes32 tupleHash => uint256))) private _support;
    /// @dev Per account, a bitmap of the rounds it has claimed: bit (round + 1) % 256 of word
    /// (round + 1) / 256. Bit 0 of word 0 is set at registration, so the first claims (rounds
    /// 0..254) update a non-zero word; one claim per 256 rounds pays for a fresh word.
    mapping(uint256 taskId => mapping(address account => mapping(uint256 word => uint256))) private _claimedRounds;
    mapping(bytes32 key => bool) private _slashed;

    constructor(IERC20 token, Staking stakeEscrow, address initialOwner) Ownable(initialOwner) {
        rewardToken = token;
        staking = stakeEscrow;
    }

    // ---------------------------------------------------------------- money in, tasks

    /// @notice Add `amount` tokens (needs an allowance) to the reserve that funds new tasks.
    function depositReserve(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        reserve += amount;
        emit ReserveDeposited(msg.sender, amount, reserve);
        rewardToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Create a task; its budget comes out of the reserve.
    /// @return taskId the new task's id (1, 2, ...)
    function createTask(TaskParams calldata p) external onlyOwner returns (uint256 taskId) {
        _checkParams(p);
        if (p.budget > reserve) revert InsufficientReserve(p.budget, reserve);
        reserve -= p.budget;
        taskId = ++taskCount;
        Task storage task = _tasks[taskId];
        // A start in the past would open rounds that already ended: start now instead.
        // slither-disable-next-line timestamp
        task.start = p.startTime < block.timestamp ? uint64(block.timestamp) : p.startTime;
        task.commitWindow = p.commitWindow;
        task.revealWindow = p.revealWindow;
        task.attestWindow = p.attestWindow;
        task.quorumBps = p.quorumBps;
        task.aggregationRule = p.aggregationRule;
        task.exists = true;
        task.minPeerStake = p.minPeerStake;
        task.minValidatorStake = p.minValidatorStake;
        task.budget = SafeCast.toUint96(p.budget);
        task.rewardPerRound = p.rewardPerRound;
        task.validatorSlash = p.validatorSlash;
        task.latestGlobal = p.initialGlobalHash;
        task.baseModelHash = p.baseModelHash;
        task.initialGlobal = p.initialGlobalHash;
        emit TaskCreated(
            taskId,
            p.baseModelHash,
            p.initialGlobalHash,
            p.aggregationRule,
            p.quorumBps,
            task.start,
            p.commitWindow,
            p.revealWindow,
            p.attestWindow,
            p.rewardPerRound,
            p.budget
        );
    }

    /// @notice Top up a task's budget from the caller's tokens (needs an allowance).
    function fundTask(uint256 taskId, uint256 amount) external {
        Task storage task = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        task.budget += SafeCast.toUint96(amount);
        emit TaskFunded(taskId, msg.sender, amount, task.budget);
        rewardToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    // ---------------------------------------------------------------- registration

    /// @notice Register as a peer: locks the task's minimum peer stake.
    function registerPeer(uint256 taskId) external {
        Task storage task = _task(taskId);
        Participant storage part = _join(taskId);
        if (part.peerStake != 0) revert AlreadyRegistered(taskId, msg.sender);
        uint128 amount = task.minPeerStake;
        part.peerStake = SafeCast.toUint96(amount);
        if (_latestCommitment[taskId][msg.sender] == bytes32(0)) {
            _latestCommitment[taskId][msg.sender] = NO_COMMITMENT;
        }
        emit PeerRegistered(taskId, msg.sender, amount);
        staking.lock(msg.sender, amount);
    }

    /// @notice Register as a validator, locking `amount` of stake: the validator's quorum weight.
    function registerValidator(uint256 taskId, uint256 amount) external {
        Task storage task = _task(taskId);
        if (amount < task.minValidatorStake) revert StakeBelowMinimum(amount, task.minValidatorStake);
        Participant storage part = _join(taskId);
        if (part.validatorStake != 0) revert AlreadyRegistered(taskId, msg.sender);
        uint96 weight = SafeCast.toUint96(amount);
        part.validatorStake = weight;
        task.validatorWeight += weight;
        emit ValidatorRegistered(taskId, msg.sender, amount);
        staking.lock(msg.sender, amount);
    }

    /// @notice Leave the task: the locked stake becomes free stake, which still needs
    /// `requestUnstake` and the withdrawal delay to leave the escrow (slashable until then).
    function leave(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (activeTask[msg.sender] != taskId) revert NotRegistered(taskId, msg.sender);
        Participant memory part = _participants[taskId][msg.sender];
        // Slashes may have taken all of it; leaving still frees the account for another task.
        uint256 released = uint256(part.peerStake) + part.validatorStake;
        task.validatorWeight -= part.validatorStake;
        _dropSupport(taskId, msg.sender, part.validatorStake);
        _participants[taskId][msg.sender].peerStake = 0;
        _participants[taskId][msg.sender].validatorStake = 0;
        activeTask[msg.sender] = 0;
        emit ParticipantLeft(taskId, msg.sender, released);
        staking.unlock(msg.sender, released);
    }

    // ---------------------------------------------------------------- rounds

    /// @notice Commit to an update: commitment = keccak256(abi.encode(peer, round, contentHash,
    /// salt)), checked off-chain by validators against the revealed envelope.
    function commit(uint256 taskId, uint64 round, bytes32 commitment) external {
        Task storage task = _tasks[taskId];
        Participant storage part = _participants[taskId][msg.sender];
        if (part.peerStake == 0) revert NotPeer(taskId, msg.sender);
        (uint256 opens, uint256 closes,,) = _windows(task, round);
        // Windows are minutes long and validators' clocks drift by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp < opens || block.timestamp >= closes) {
            revert NotInCommitWindow(round, opens, closes, block.timestamp);
        }
        if (commitment == bytes32(0) || commitment == NO_COMMITMENT) revert ZeroCommitment();
        if (part.lastCommitPlusOne == round + 1) revert AlreadyCommitted(taskId, round, msg.sender);
        part.lastCommitPlusOne = round + 1;
        _latestCommitment[taskId][msg.sender] = commitment;
        emit UpdateCommitted(taskId, round, msg.sender, commitment);
    }

    /// @notice Seal an attestation in the first half of the round's attest window:
    /// seal = keccak256(abi.encode(taskId, round, msg.sender, tupleHash, salt)) (see `sealFor`).
    function sealAttestation(uint256 taskId, uint64 round, bytes32 seal) external {
        _checkAttester(taskId, round, true);
        if (seal == bytes32(0)) revert ZeroSeal();
        if (_attestations[taskId][round][msg.sender] != bytes32(0)) revert AlreadySealed(taskId, round, msg.sender);
        _attestations[taskId][round][msg.sender] = seal;
        emit AttestationSealed(taskId, round, msg.sender, seal);
    }

    /// @notice Open a sealed attestation of the outcome of a round, in the second half of its
    /// attest window. The attestation that brings the stake behind this exact tuple to the
    /// quorum finalizes the round (O(1) gas). Openings after that are recorded and change nothing:
    /// a validator slower than the quorum shows that it matched, and its seal is not left unopened.
    function attest(
        uint256 taskId,
        uint64 round,
        bytes32 acceptedRoot,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot,
        bytes32 salt
    ) external {
        uint256 weight = _checkAttester(taskId, round, false);
        bytes32 tupleHash =
            _open(taskId, round, keccak256(abi.encode(acceptedRoot, globalHash, rewardsRoot, slashRoot)), salt);
        emit Attested(
            taskId, round, msg.sender, tupleHash, acceptedRoot, globalHash, rewardsRoot, slashRoot, weight
        );
        Round storage r = _rounds[taskId][round];
        if (r.status == RoundStatus.Finalized) return;
        uint256 support = _support[taskId][round][tupleHash] + weight;
        Task storage task = _tasks[taskId];
        if (support * BPS < uint256(task.quorumBps) * task.validatorWeight) {
            _support[taskId][round][tupleHash] = support;
            return;
        }
        // Quorum: finalize. Only constant-size state is written, whatever the number of peers.
        _support[taskId][round][tupleHash] = FINAL;
        uint256 pool = _finalize(task, r, round, globalHash, rewardsRoot, slashRoot);
        emit RoundFinalized(taskId, round, acceptedRoot, globalHash, rewardsRoot, slashRoot, pool, support);
    }

    /// @notice Record that a round ended without quorum (anyone may call after its attest
    /// window); the previous global adapter stays and no budget is spent.
    function markFailed(uint256 taskId, uint64 round) external {
        Task storage task = _task(taskId);
        (,,, uint256 attestEnd) = _windows(task, round);
        // Windows are minutes long and validators' clocks drift by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp < attestEnd) revert RoundNotExpired(taskId, round, attestEnd);
        Round storage r = _rounds[taskId][round];
        if (r.status == RoundStatus.Finalized) revert RoundAlreadyFinalized(taskId, round);
        if (r.status == RoundStatus.Failed) revert RoundAlreadyFailed(taskId, round);
        r.status = RoundStatus.Failed;
        emit RoundFailed(taskId, round);
    }

    // ---------------------------------------------------------------- pull payments, slashes

    /// @notice Claim the caller's reward for a finalized round with a proof against its
    /// rewardsRoot. An account is paid at most once per round (so a reward tree holds one leaf
    /// per account; `index` is that leaf's position in the list and part of its hash), and a
    /// round never pays more than its pool.
    function claim(uint256 taskId, uint64 round, uint256 index, uint256 amount, bytes32[] calldata proof)
        external
    {
        Round storage r = _rounds[taskId][round];
        if (r.status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        uint256 position = uint256(round) + 1;
        uint256 bit = 1 << (position & 0xff);
        uint256 word = _claimedRounds[taskId][msg.sender][position >> 8];
        if (word & bit != 0) revert AlreadyClaimed(taskId, round, msg.sender);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(taskId, round, index, msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, r.rewardsRoot, leaf)) revert InvalidProof();
        uint256 left = r.pool - r.claimed;
        if (amount > left) revert PoolExceeded(taskId, round, amount, left);
        _claimedRounds[taskId][msg.sender][position >> 8] = word | bit;
        r.claimed += uint96(amount);
        _totals[taskId][msg.sender].claimed += uint96(amount);
        emit RewardClaimed(taskId, round, msg.sender, index, amount);
        rewardToken.safeTransfer(msg.sender, amount);
    }

    /// @notice Execute one slash of a finalized round's slashRoot (anyone may call; the tokens
    /// go to the task's next reward pool). Reverts with Staking.SlashExceedsStake if the leaf asks
    /// for more than the account has staked.
    function executeSlash(
        uint256 taskId,
        uint64 round,
        address account,
        uint256 amount,
        uint8 reason,
        bytes32[] calldata proof
    ) external {
        Round storage r = _rounds[taskId][round];
        if (r.status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(taskId, round, account, amount, reason))));
        if (_slashed[leaf]) revert AlreadySlashed(taskId, round, account);
        if (!MerkleProof.verifyCalldata(proof, r.slashRoot, leaf)) revert InvalidProof();
        _slashed[leaf] = true;
        _slash(taskId, round, account, amount, reason);
    }

    /// @notice Slash a validator who attested a tuple other than the one the round finalized
    /// with, or sealed an attestation and never opened it, by the task's `validatorSlash`
    /// (capped at its stake). Anyone may call.
    function slashDissenter(uint256 taskId, uint64 round, address validator) external {
        Task storage task = _task(taskId);
        if (_rounds[taskId][round].status != RoundStatus.Finalized) revert RoundNotFinalized(taskId, round);
        bytes32 attested = _attestations[taskId][round][validator];
        if (attested == bytes32(0) || _support[taskId][round][attested] == FINAL) {
            revert NotADissenter(taskId, round, validator);
        }
        bytes32 key = keccak256(abi.encode(taskId, round, validator, DISSENT_REASON));
        if (_slashed[key]) revert AlreadySlashed(taskId, round, validator);
        _slashed[key] = true;
        uint256 stake = staking.stakeOf(validator);
        uint256 amount = task.validatorSlash < stake ? task.validatorSlash : stake;
        _slash(taskId, round, validator, amount, DISSENT_REASON);
    }

    // ---------------------------------------------------------------- views

    /// @notice The task's fixed parameters and its live state.
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
        params = TaskParams({
            baseModelHash: task.baseModelHash,
            initialGlobalHash: task.initialGlobal,
            aggregationRule: task.aggregationRule,
            quorumBps: task.quorumBps,
            startTime: task.start,
            commitWindow: task.commitWindow,
            revealWindow: task.revealWindow,
            attestWindow: task.attestWindow,
            rewardPerRound: task.rewardPerRound,
            minPeerStake: task.minPeerStake,
            minValidatorStake: task.minValidatorStake,
            validatorSlash: task.validatorSlash,
            budget: task.budget
        });
        hasFinalized = task.finalizedPlusOne != 0;
        latestFinalizedRound = hasFinalized ? task.finalizedPlusOne - 1 : 0;
        return (params, task.slashPool, task.validatorWeight, task.latestGlobal, hasFinalized, latestFinalizedRound);
    }

    /// @notice Per-round state: status, roots, pool and the amount claimed so far.
    function roundInfo(uint256 taskId, uint64 round)
        external
        view
        returns (RoundStatus status, bytes32 rewardsRoot, bytes32 slashRoot, uint256 pool, uint256 claimed)
    {
        Round storage r = _rounds[taskId][round];
        return (r.status, r.rewardsRoot, r.slashRoot, r.pool, r.claimed);
    }

    /// @notice The round's windows: commit [commitStart, commitEnd), reveal [commitEnd,
    /// revealEnd), attest [revealEnd, attestEnd).
    function roundWindows(uint256 taskId, uint64 round)
        external
        view
        returns (uint256 commitStart, uint256 commitEnd, uint256 revealEnd, uint256 attestEnd)
    {
        return _windows(_task(taskId), round);
    }

    /// @notice The round whose windows contain `timestamp` (0 before the task starts).
    function roundAt(uint256 taskId, uint256 timestamp) external view returns (uint64) {
        Task storage task = _task(taskId);
        if (timestamp < task.start) return 0;
        return uint64((timestamp - task.start) / _period(task));
    }

    /// @notice The phase of `round` at `timestamp`: a recorded outcome wins; an open round past
    /// its attest window has failed even if nobody called `markFailed`.
    function phaseAt(uint256 taskId, uint64 round, uint256 timestamp) external view returns (Phase) {
        RoundStatus status = _rounds[taskId][round].status;
        if (status == RoundStatus.Finalized) return Phase.Finalized;
        if (status == RoundStatus.Failed) return Phase.Failed;
        (uint256 commitStart, uint256 commitEnd, uint256 revealEnd, uint256 attestEnd) = _windows(_task(taskId), round);
        if (timestamp < commitStart) return Phase.NotStarted;
        if (timestamp < commitEnd) return Phase.Commit;
        if (timestamp < revealEnd) return Phase.Reveal;
        if (timestamp < attestEnd) return Phase.Attest;
        return Phase.Failed;
    }

    /// @notice A participant's locked stakes and lifetime totals in a task.
    function participantOf(uint256 taskId, address account)
        external
        view
        returns (uint256 peerStake, uint256 validatorStake, uint256 registeredAt, uint256 claimed, uint256 slashed)
    {
        Participant storage part = _participants[taskId][account];
        Totals storage totals = _totals[taskId][account];
        return (part.peerStake, part.validatorStake, totals.registeredAt, totals.claimed, totals.slashed);
    }

    /// @notice The commitment a peer made in a round, if that is its latest one (zero if none);
    /// earlier commitments are in the UpdateCommitted logs.
    function commitmentOf(uint256 taskId, uint64 round, address peer) external view returns (bytes32) {
        if (_participants[taskId][peer].lastCommitPlusOne != uint256(round) + 1) return bytes32(0);
        return _latestCommitment[taskId][peer];
    }

    /// @notice The tuple hash a validator attested in a round, its seal while unopened, zero
    /// if neither.
    function attestationOf(uint256 taskId, uint64 round, address validator) external view returns (bytes32) {
        return _attestations[taskId][round][validator];
    }

    /// @notice Stake behind a tuple in a round; for the finalized tuple, `isFinal` is true.
    function supportOf(uint256 taskId, uint64 round, bytes32 tupleHash)
        external
        view
        returns (uint256 weight, bool isFinal)
    {
        uint256 support = _support[taskId][round][tupleHash];
        return support == FINAL ? (0, true) : (support, false);
    }

    /// @notice Whether an account has claimed its reward of a round.
    function isClaimed(uint256 taskId, uint64 round, address account) external view returns (bool) {
        uint256 position = uint256(round) + 1;
        return _claimedRounds[taskId][account][position >> 8] & (1 << (position & 0xff)) != 0;
    }

    /// @notice The commitment a peer must submit (same formula the validators check off-chain).
    function commitmentFor(address peer, uint64 round, bytes32 contentHash, bytes32 salt)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(peer, round, contentHash, salt));
    }

    /// @notice The seal a validator stores before opening its attestation of `tupleHash`.
    function sealFor(uint256 taskId, uint64 round, address validator, bytes32 tupleHash, bytes32 salt)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(taskId, round, validator, tupleHash, salt));
    }

    /// @notice The hash under which attestations of one tuple are counted.
    function tupleHashOf(bytes32 acceptedRoot, bytes32 globalHash, bytes32 rewardsRoot, bytes32 slashRoot)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(acceptedRoot, globalHash, rewardsRoot, slashRoot));
    }

    // ---------------------------------------------------------------- internals

    /// @dev The caller's validator weight, after checking the seal (first half of the attest
    /// window) or open (second half) window.
    function _checkAttester(uint256 taskId, uint64 round, bool sealing) private view returns (uint256 weight) {
        weight = _participants[taskId][msg.sender].validatorStake;
        if (weight == 0) revert NotValidator(taskId, msg.sender);
        (,, uint256 revealEnd, uint256 attestEnd) = _windows(_tasks[taskId], round);
        uint256 sealEnd = revealEnd + (attestEnd - revealEnd) / 2;
        // Windows are minutes long and validators' clocks drift by seconds.
        if (sealing) {
            // slither-disable-next-line timestamp
            if (block.timestamp < revealEnd || block.timestamp >= sealEnd) {
                revert NotInSealWindow(round, revealEnd, sealEnd, block.timestamp);
            }
            return weight;
        }
        // slither-disable-next-line timestamp
        if (block.timestamp < sealEnd || block.timestamp >= attestEnd) {
            revert NotInAttestWindow(round, sealEnd, attestEnd, block.timestamp);
        }
    }

    /// @dev Replace the caller's seal by the tuple it seals; returns `tupleHash`.
    function _open(uint256 taskId, uint64 round, bytes32 tupleHash, bytes32 salt) private returns (bytes32) {
        bytes32 stored = _attestations[taskId][round][msg.sender];
        if (stored == tupleHash) revert AlreadyAttested(taskId, round, msg.sender);
        if (stored == bytes32(0)) revert NotSealed(taskId, round, msg.sender);
        if (stored != keccak256(abi.encode(taskId, round, msg.sender, tupleHash, salt))) {
            revert SealMismatch(taskId, round, msg.sender);
        }
        // Overwrites the seal: a non-zero -> non-zero store, cheaper than the first write.
        _attestations[taskId][round][msg.sender] = tupleHash;
        return tupleHash;
    }

    /// @dev Fund the round's pool (budget share + everything slashed since the last
    /// finalization), record its roots and make its global the task's latest.
    function _finalize(
        Task storage task,
        Round storage r,
        uint64 round,
        bytes32 globalHash,
        bytes32 rewardsRoot,
        bytes32 slashRoot
    ) private returns (uint96 pool) {
        uint96 budget = task.budget;
        uint96 fromBudget = task.rewardPerRound < budget ? uint96(task.rewardPerRound) : budget;
        pool = fromBudget + task.slashPool;
        task.budget = budget - fromBudget;
        task.slashPool = 0;
        task.finalizedPlusOne = round + 1;
        task.latestGlobal = globalHash;
        r.rewardsRoot = rewardsRoot;
        r.slashRoot = slashRoot;
        r.pool = pool;
        r.status = RoundStatus.Finalized;
    }

    function _task(uint256 taskId) private view returns (Task storage task) {
        task = _tasks[taskId];
        if (!task.exists) revert UnknownTask(taskId);
    }

    /// @dev Bind the caller to `taskId` (one task per account) and return its record.
    function _join(uint256 taskId) private returns (Participant storage) {
        uint256 current = activeTask[msg.sender];
        if (current != 0 && current != taskId) revert BusyInAnotherTask(msg.sender, current);
        activeTask[msg.sender] = taskId;
        Totals storage totals = _totals[taskId][msg.sender];
        if (totals.registeredAt == 0) {
            totals.registeredAt = uint64(block.timestamp);
            _claimedRounds[taskId][msg.sender][0] = 1;
        }
        return _participants[taskId][msg.sender];
    }

    /// @dev Effects first (locks, weight, pool, totals), then the one external call.
    /// All of an account's locked stake backs its current task (one task at a time), which may no
    /// longer be the task of the fault: the lock (and quorum weight) shrinks there, the tokens go
    /// to the pool of the task of the fault.
    function _slash(uint256 taskId, uint64 round, address account, uint256 amount, uint8 reason) private {
        uint256 current = activeTask[account];
        Participant storage part = _participants[current][account];
        // Dissent is a validator's fault: take its validator lock first; otherwise the peer lock.
        uint256 fromValidator;
        uint256 fromPeer;
        if (reason == DISSENT_REASON) {
            fromValidator = _min(amount, part.validatorStake);
            fromPeer = _min(amount - fromValidator, part.peerStake);
        } else {
            fromPeer = _min(amount, part.peerStake);
            fromValidator = _min(amount - fromPeer, part.validatorStake);
        }
        part.peerStake -= uint96(fromPeer);
        part.validatorStake -= uint96(fromValidator);
        _tasks[current].validatorWeight -= uint128(fromValidator);
        _dropSupport(current, account, fromValidator);
        _tasks[taskId].slashPool += SafeCast.toUint96(amount);
        _totals[taskId][account].slashed += SafeCast.toUint96(amount);
        emit SlashExecuted(taskId, round, account, amount, reason);
        staking.slash(account, amount, fromPeer + fromValidator);
    }

    /// @dev Stake that leaves a validator (leave, slash) also leaves the support it gave in the
    /// round now open, so it never counts for a tuple while no longer counted in the total.
    /// Only the current round can still finalize: windows of different rounds never overlap.
    function _dropSupport(uint256 taskId, address validator, uint256 weight) private {
        Task storage task = _tasks[taskId];
        // slither-disable-next-line timestamp
        if (weight == 0 || block.timestamp < task.start) return;
        uint64 round = uint64((block.timestamp - task.start) / _period(task));
        bytes32 attested = _attestations[taskId][round][validator];
        if (attested == bytes32(0)) return;
        uint256 support = _support[taskId][round][attested];
        // zero: a seal not opened yet backs no tuple
        if (support == FINAL || support == 0) return;
        _support[taskId][round][attested] = support - _min(weight, support);
    }

    function _checkParams(TaskParams calldata p) private view {
        // Above one half, two different tuples can never both reach the quorum.
        if (p.quorumBps <= BPS / 2 || p.quorumBps > BPS) revert QuorumOutOfRange(p.quorumBps);
        // The attest window is halved into seal and open windows; each needs a second at least.
        if (p.commitWindow == 0 || p.revealWindow == 0 || p.attestWindow < 2) revert EmptyWindow();
        // A zero minimum would make "registered" indistinguishable from a zero locked stake.
        if (p.minPeerStake == 0 || p.minValidatorStake == 0) revert ZeroMinimumStake();
        if (p.initialGlobalHash == bytes32(0)) revert ZeroInitialGlobal();
        // A leaver's stake must stay slashable until the rounds it took part in are settled:
        // its unstake delay must cover two full rounds (the round itself and one to slash in).
        uint256 period = uint256(p.commitWindow) + p.revealWindow + p.attestWindow;
        uint256 delay = staking.withdrawalDelay();
        if (2 * period > delay) revert PeriodExceedsUnstakeDelay(period, delay);
    }

    function _windows(Task storage task, uint64 round)
        private
        view
        returns (uint256 commitStart, uint256 commitEnd, uint256 revealEnd, uint256 attestEnd)
    {
        commitStart = uint256(task.start) + uint256(round) * _period(task);
        commitEnd = commitStart + task.commitWindow;
        revealEnd = commitEnd + task.revealWindow;
        attestEnd = revealEnd + task.attestWindow;
    }

    function _period(Task storage task) private view returns (uint256) {
        return uint256(task.commitWindow) + task.revealWindow + task.attestWindow;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
