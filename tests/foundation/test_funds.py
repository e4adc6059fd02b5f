"""Amounts as an operator types them and as commands show them: exact to the wei, for any size."""

from __future__ import annotations

import pytest

from loraswarm.errors import BadAmount, Unfunded
from loraswarm.evm.funds import gas_cost, parse_amount, require_eth, tokens

GWEI = 10**9


class _Eth:
    def __init__(self, base_fee: int | None, chain_id: int = 8453, balance: int = 0) -> None:
        self.block = {} if base_fee is None else {"baseFeePerGas": base_fee}
        self.gas_price = 11 * GWEI  # what eth_gasPrice answers: base fee plus a tip
        self.max_priority_fee = 1 * GWEI
        self.chain_id = chain_id
        self.balance = balance

    def get_balance(self, address: str) -> int:
        return self.balance

    def get_block(self, which: str) -> dict[str, int]:
        assert which == "latest"
        return self.block


class _Chain:
    def __init__(self, base_fee: int | None, chain_id: int = 8453, balance: int = 0) -> None:
        self.eth = _Eth(base_fee, chain_id, balance)


@pytest.mark.parametrize(("base_fee", "per_gas"), [(10 * GWEI, 21 * GWEI), (None, 11 * GWEI)])
def test_gas_money_is_checked_at_the_fee_cap_a_transaction_carries(base_fee: int | None, per_gas: int) -> None:
    # An EIP-1559 chain refuses a transaction unless the sender holds gas x maxFeePerGas (twice
    # the base fee plus the tip, as web3 fills it in); checked at eth_gasPrice, a node passed its
    # funds check with about half of that and failed at its first transaction.
    assert gas_cost(_Chain(base_fee), 100_000) == 100_000 * per_gas  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "units"), [
    ("0.1", 10**17),
    ("1200", 1200 * 10**18),
    ("123456789.123456789", 123456789123456789 * 10**9),
    ("100_000_000_000", 10**29),  # past the default Decimal context's 28 digits
    ("0.000000000000000001", 1),
])
def test_amounts_are_taken_exactly(text: str, units: int) -> None:
    assert parse_amount(text, "LSW") == units


@pytest.mark.parametrize(("text", "message"), [
    ("nan", "'nan' is not an amount of LSW: give a finite number"),
    ("inf", "'inf' is not an amount of LSW: give a finite number"),
    ("-1", "'-1' is not an amount of LSW: give a finite number"),
    ("ten", "'ten' is not an amount of LSW: write it like 100"),
    ("1e-19", "1e-19 LSW has more than 18 decimals"),
    ("0", "0 LSW: the amount must be more than 0"),
])
def test_bad_amounts_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(BadAmount, match=message):
        parse_amount(text, "LSW")


def test_zero_where_a_command_allows_it_and_amounts_shown_with_every_digit() -> None:
    assert parse_amount("0", "ETH", allow_zero=True) == 0
    assert tokens(10**29) == "100,000,000,000"
    assert tokens(5) == "0.000000000000000005"
    assert tokens(1234567 * 10**17) == "123,456.7"


@pytest.mark.parametrize(("chain_id", "where"), [
    (8453, "send ETH on chain 8453 to 0xAb (a faucet, on a testnet)"),
    (31337, "run `loraswarm chain fund 0xAb --eth 1`"),
])
def test_an_unfunded_account_is_told_where_its_chain_gets_eth(chain_id: int, where: str) -> None:
    # On a public chain there is no `chain fund`: the message says what to send, and where.
    chain = _Chain(10 * GWEI, chain_id, balance=GWEI)
    with pytest.raises(Unfunded) as told:
        require_eth(chain, "0xAb", gas_cost(chain, 100_000), "staking")  # type: ignore[arg-type]
    assert str(told.value) == (f"account 0xAb on chain {chain_id} holds 0.000000001 ETH; staking needs about "
                               f"0.0021 ETH for gas (0.002099999 more): {where}")
