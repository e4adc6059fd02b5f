// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title loraswarm stake escrow
/// @notice Holds the reward-token stake of peers and validators. Stake leaves only through
/// `requestUnstake` + `withdraw`, separated by `withdrawalDelay`, and only stake that no task
/// registration holds (free stake) can be requested. Slashes take locked stake only: the
/// coordinator keeps a participant's stake locked until every round it took part in can no longer
/// be slashed, so free and unlocking stake are never at risk.
/// @dev Per account: `stake` = all tokens escrowed here; `locked` = the part the coordinator holds
/// for a task registration (cannot be unstaked); `unlocking` = the part waiting for its delay.
/// Invariant: locked + unlocking <= stake. Only the coordinator locks, unlocks and slashes, and
/// slashed tokens always go to the coordinator (the task's pool and the executor's bounty).
contract Staking {
    using SafeERC20 for IERC20;

    struct Account {
        uint128 stake;
        uint128 locked;
        uint128 unlocking;
        uint64 unlockAt;
    }

    error ZeroAmount();
    error ZeroAddress();
    error NotCoordinator(address caller);
    error NotAdmin(address caller);
    error CoordinatorAlreadySet(address coordinator);
    error InsufficientFreeStake(address account, uint256 requested, uint256 free);
    error NothingToWithdraw(address account);
    error UnstakeNotReady(address account, uint256 unlockAt, uint256 nowTs);
    error BadLockRelease(address account, uint256 amount, uint256 locked);

    event CoordinatorSet(address indexed coordinator);
    event Staked(address indexed account, uint256 amount, uint256 stake);
    event UnstakeRequested(address indexed account, uint256 amount, uint256 unlocking, uint256 unlockAt);
    event Unstaked(address indexed account, uint256 amount, uint256 stake);
    event StakeLocked(address indexed account, uint256 amount, uint256 locked);
    event StakeUnlocked(address indexed account, uint256 amount, uint256 locked);
    event StakeSlashed(address indexed account, uint256 amount, uint256 stake);

    /// @notice The staked token (the reward token).
    IERC20 public immutable token;
    /// @notice Seconds between `requestUnstake` and the earliest `withdraw`.
    uint64 public immutable withdrawalDelay;
    /// @notice The only account allowed to set the coordinator, once.
    address public immutable admin;
    /// @notice The coordinator contract: the only locker and slasher.
    address public coordinator;

    mapping(address account => Account) private _accounts;

    constructor(IERC20 stakeToken, uint64 delay, address deployer) {
        if (deployer == address(0)) revert ZeroAddress();
        token = stakeToken;
        withdrawalDelay = delay;
        admin = deployer;
    }

    modifier onlyCoordinator() {
        if (msg.sender != coordinator) revert NotCoordinator(msg.sender);
        _;
    }

    /// @notice Wire the coordinator; callable once by the admin (deployment order: token,
    /// staking, coordinator, then this), so the slasher can never be replaced afterwards.
    function setCoordinator(address newCoordinator) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        if (coordinator != address(0)) revert CoordinatorAlreadySet(coordinator);
        if (newCoordinator == address(0)) revert ZeroAddress();
        coordinator = newCoordinator;
        emit CoordinatorSet(newCoordinator);
    }

    /// @notice Escrow `amount` tokens (needs an allowance).
    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        account.stake += SafeCast.toUint128(amount);
        emit Staked(msg.sender, amount, account.stake);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Start the withdrawal delay for `amount` of free stake. A new request adds to the
    /// pending amount and restarts the delay for all of it.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint256 free = _free(account);
        if (amount > free) revert InsufficientFreeStake(msg.sender, amount, free);
        account.unlocking += uint128(amount);
        account.unlockAt = uint64(block.timestamp) + withdrawalDelay;
        emit UnstakeRequested(msg.sender, amount, account.unlocking, account.unlockAt);
    }

    /// @notice Pay out the unlocking stake once its delay has passed (what slashes left of it).
    function withdraw() external {
        Account storage account = _accounts[msg.sender];
        uint256 amount = account.unlocking;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        // The delay is measured in hours; a few seconds of timestamp drift do not matter.
        // slither-disable-next-line timestamp
        if (block.timestamp < account.unlockAt) {
            revert UnstakeNotReady(msg.sender, account.unlockAt, block.timestamp);
        }
        account.unlocking = 0;
        account.stake -= uint128(amount);
        emit Unstaked(msg.sender, amount, account.stake);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Lock `amount` of the account's free stake for a task registration.
    function lock(address who, uint256 amount) external onlyCoordinator {
        Account storage account = _accounts[who];
        uint256 free = _free(account);
        if (amount > free) revert InsufficientFreeStake(who, amount, free);
        account.locked += uint128(amount);
        emit StakeLocked(who, amount, account.locked);
    }

    /// @notice Release `amount` of locked stake (the registration ended); it becomes free stake.
    function unlock(address who, uint256 amount) external onlyCoordinator {
        Account storage account = _accounts[who];
        if (amount > account.locked) revert BadLockRelease(who, amount, account.locked);
        account.locked -= uint128(amount);
        emit StakeUnlocked(who, amount, account.locked);
    }

    /// @notice Take `amount` of the account's locked stake and send it to the coordinator.
    /// Free and unlocking stake are never touched.
    function slash(address who, uint256 amount) external onlyCoordinator {
        Account storage account = _accounts[who];
        if (amount > account.locked) revert BadLockRelease(who, amount, account.locked);
        account.locked -= uint128(amount);
        account.stake -= uint128(amount);
        emit StakeSlashed(who, amount, account.stake);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice All tokens the account has escrowed here (locked, unlocking and free).
    function stakeOf(address who) external view returns (uint256) {
        return _accounts[who].stake;
    }

    /// @notice Stake that can be locked or unstaked now.
    function freeStakeOf(address who) external view returns (uint256) {
        return _free(_accounts[who]);
    }

    /// @notice The account's full record: stake, locked, unlocking and when unlocking is due.
    function accountOf(address who)
        external
        view
        returns (uint256 staked, uint256 locked, uint256 unlocking, uint256 unlockAt)
    {
        Account storage account = _accounts[who];
        return (account.stake, account.locked, account.unlocking, account.unlockAt);
    }

    function _free(Account storage account) private view returns (uint256) {
        return uint256(account.stake) - account.locked - account.unlocking;
    }
}
