// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title loraswarm reward token
/// @notice Fixed supply: the whole supply is minted once, at deployment, to the treasury
/// (the deployer, who funds the coordinator's reward budget and the peers' stakes). No mint
/// function exists afterwards, so the supply can never grow.
contract RewardToken is ERC20 {
    error ZeroSupply();

    constructor(address treasury, uint256 supply) ERC20("loraswarm reward", "LSW") {
        if (supply == 0) revert ZeroSupply();
        _mint(treasury, supply);
    }
}
