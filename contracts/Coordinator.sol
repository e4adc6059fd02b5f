// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title loraswarm coordinator (foundation stub)
/// @notice Holds the reward token address and a registry of peers. The contracts issue grows this
/// into the task/round coordinator (commit, attest, finalize, claim, slash).
contract Coordinator {
    error AlreadyRegistered(address peer);

    event PeerRegistered(address indexed peer);

    IERC20 public immutable rewardToken;
    mapping(address => bool) public isRegistered;

    constructor(IERC20 token) {
        rewardToken = token;
    }

    function register() external {
        if (isRegistered[msg.sender]) revert AlreadyRegistered(msg.sender);
        isRegistered[msg.sender] = true;
        emit PeerRegistered(msg.sender);
    }
}
