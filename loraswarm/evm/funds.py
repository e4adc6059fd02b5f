"""Money an account needs before it acts: ETH for gas and reward tokens (LSW) for stake, checked
before anything is sent, so that an unfunded account is told what is missing and where to get it
instead of failing mid-way (a node after loading its model); and ``chain fund`` on a local chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from loraswarm.errors import BadAmount, TransactionReverted, Unfunded

# Chain ids of development chains (anvil and hardhat use 31337, some setups 1337): there
# `loraswarm chain fund` hands out ETH and tokens.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
WEI = 10**18
# Gas the deployment of the three contracts uses (6.9M measured), with a margin.
DEPLOY_GAS = 7_500_000
# Gas a node should hold at start: registering (approve, stake, two registrations) and a few
# rounds of commits, reveals, attestations and claims, each sent with the node's margin over its
# estimate (node/chain/client.py), which the balance must cover for the chain to accept it.
NODE_GAS = 3_000_000


# Decimal digits enough for any uint256 amount: the default context (28) would round large ones.
_DIGITS = 100


def _exact(units: int) -> str:
    """An amount in its smallest unit as the whole-unit number it is, every digit kept."""
    with localcontext() as context:
        context.prec = _DIGITS
        text = f"{Decimal(units) / WEI:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def ether(wei: int) -> str:
    return _exact(wei)


def tokens(units: int) -> str:
    return _exact(units)


def parse_amount(text: str, unit: str, allow_zero: bool = False) -> int:
    """An amount of ETH or LSW as typed (``0.1``, ``1200``) in its smallest unit, exactly: no float
    in between; BadAmount for anything that is not a finite, non-negative amount of whole wei."""
    with localcontext() as context:
        context.prec = _DIGITS
        try:
            value = Decimal(text.strip().replace("_", ""))
        except InvalidOperation:
            raise BadAmount(f"{text!r} is not an amount of {unit}: write it like 100 or 0.5") from None
        if not value.is_finite() or value < 0:
            raise BadAmount(f"{text!r} is not an amount of {unit}: give a finite number of 0 or more")
        units = value * WEI
    if units != units.to_integral_value():
        raise BadAmount(f"{text} {unit} has more than 18 decimals")
    if units == 0 and not allow_zero:
        raise BadAmount(f"{text} {unit}: the amount must be more than 0")
    return int(units)


def is_local(chain_id: int) -> bool:
    return chain_id in LOCAL_CHAIN_IDS


def _where(chain_id: int, address: str, flag: str) -> str:
    if is_local(chain_id):
        return f"run `loraswarm chain fund {address} {flag}`"
    if flag.startswith("--eth"):
        return f"send ETH on chain {chain_id} to {address} (a faucet, on a testnet)"
    return f"ask the network's operator to send LSW on chain {chain_id} to {address}"


def fee_per_gas(w3: Web3) -> int:
    """The fee cap per gas our transactions carry (web3 fills in twice the base fee plus the
    priority fee): a chain refuses a transaction whose sender cannot cover gas times that cap,
    though it charges less. A chain without a base fee: its gas price."""
    base = w3.eth.get_block("latest").get("baseFeePerGas")
    if base is None:
        return int(w3.eth.gas_price)
    return 2 * int(base) + int(w3.eth.max_priority_fee)


def gas_cost(w3: Web3, gas: int) -> int:
    """What an account must hold, in wei, for transactions using ``gas`` in all to be accepted."""
    return gas * fee_per_gas(w3)


def require_eth(w3: Web3, address: str, wei: int, action: str) -> int:
    """The account's ETH balance, if it holds ``wei``; Unfunded (saying how to fund it) if not."""
    return _require(w3, address, int(w3.eth.get_balance(address)), wei, "ETH", f"{action} needs about", " for gas")


def require_tokens(w3: Web3, token: Contract, address: str, units: int, action: str) -> int:
    """The account's LSW balance, if it holds ``units``; Unfunded (saying how to get them) if not."""
    return _require(w3, address, int(token.functions.balanceOf(address).call()), units, "LSW", f"{action} needs", "")


def _require(w3: Web3, address: str, balance: int, needed: int, unit: str, needs: str, purpose: str) -> int:
    if balance < needed:
        chain_id = int(w3.eth.chain_id)
        missing = needed - balance
        raise Unfunded(f"account {address} on chain {chain_id} holds {_exact(balance)} {unit}; {needs} "
                       f"{_exact(needed)} {unit}{purpose} ({_exact(missing)} more): "
                       f"{_where(chain_id, address, f'--{unit.lower()} {_round_up(missing)}')}")
    return balance


def _round_up(units: int) -> str:
    """A whole-token (or whole-ETH) amount at least ``units``, for a command line."""
    return str(-(-units // WEI))


@dataclass(frozen=True)
class StakeNeed:
    """What joining a task in some roles takes beyond what the account already has there."""

    stake: int  # tokens the registrations lock
    free_stake: int  # already staked and free: it counts towards ``stake``

    @property
    def to_stake(self) -> int:
        return max(self.stake - self.free_stake, 0)


def require_node_funds(w3: Web3, token: Contract, address: str, need: StakeNeed) -> None:
    """Before a node loads its model: gas for its first rounds and the tokens it must stake."""
    require_eth(w3, address, gas_cost(w3, NODE_GAS), "a node (registration and its first rounds)")
    if need.to_stake:
        require_tokens(w3, token, address, need.to_stake,
                       f"registering (stake {tokens(need.stake)} LSW, {tokens(need.free_stake)} already staked)")


@dataclass(frozen=True)
class Funded:
    address: str
    eth: int  # balances after funding
    lsw: int
    tx_hashes: tuple[str, ...]


def fund(w3: Web3, token: Contract, treasury: str, address: str, eth: int, lsw: int,
         sender: LocalAccount | None = None) -> Funded:
    """Send ``eth`` wei and ``lsw`` token units to ``address``: from ``sender`` (a key, any chain),
    or on a development chain from its first unlocked account (ETH) and the treasury (the
    deployer, unlocked there too)."""
    chain_id = int(w3.eth.chain_id)
    sent: list[bytes] = []
    if sender is not None:
        require_eth(w3, sender.address, gas_cost(w3, 100_000) + eth, "funding")
        if lsw:
            require_tokens(w3, token, sender.address, lsw, "funding")
        # Read once: the pending count already includes a transfer sent just before, and a nonce
        # past it would leave the next transaction waiting for a gap that never fills.
        nonce = w3.eth.get_transaction_count(sender.address, "pending")
        if eth:
            tx = {"from": sender.address, "to": address, "value": eth, "chainId": chain_id, "gas": 21_000,
                  "gasPrice": int(w3.eth.gas_price), "nonce": nonce}
            sent.append(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))  # type: ignore[arg-type]
        if lsw:
            call = token.functions.transfer(address, lsw).build_transaction({
                "from": sender.address, "chainId": chain_id, "nonce": nonce + len(sent)})
            sent.append(w3.eth.send_raw_transaction(sender.sign_transaction(call).raw_transaction))
    else:
        if not is_local(chain_id):
            raise Unfunded(f"chain {chain_id} is not a local development chain: pass --keystore FILE to send from your "
                           "account (the deployer holds the LSW supply)")
        unlocked = {a.lower() for a in w3.eth.accounts}
        if lsw and treasury.lower() not in unlocked:
            raise Unfunded(f"the deployer {treasury} is not an unlocked account of this chain: pass --keystore "
                           "with its key")
        if eth:
            sent.append(w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": eth}))
        if lsw:
            require_tokens(w3, token, treasury, lsw, "funding")
            sent.append(token.functions.transfer(address, lsw).transact({"from": treasury}))
    for tx_hash in sent:
        if w3.eth.wait_for_transaction_receipt(tx_hash)["status"] != 1:
            raise TransactionReverted(f"a funding transaction reverted (tx 0x{bytes(tx_hash).hex()})")
    return Funded(address, int(w3.eth.get_balance(address)), int(token.functions.balanceOf(address).call()),
                  tuple("0x" + bytes(h).hex() for h in sent))
