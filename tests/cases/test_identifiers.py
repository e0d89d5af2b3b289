"""Subject identifiers: each kind and chain is checked (with the chain's own checksum) and normalized,
so that the same subject written two ways is found in every case.

The addresses are published test vectors (BIP-173, BIP-350, EIP-55) or well-known addresses (the
Bitcoin genesis address, the USDT contract on Tron, the USDC mint on Solana); the Litecoin ones were
made with the reference encoders (`base58.b58encode_check`, `bech32.encode`) from a fixed payload.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cases.identifiers import identifier_normalize


def _normalize(kind: str, value: str, chain: str = "") -> tuple[str, str, str]:
    result = identifier_normalize(kind=kind, value=value, chain=chain)
    return result.kind, result.chain, result.normalized


@pytest.mark.parametrize(
    ("value", "chain", "normalized"),
    [
        # Bitcoin legacy (P2PKH, version 0x00) and P2SH (version 0x05): Base58Check, kept as written.
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        # SegWit v0 (Bech32): P2WPKH and P2WSH; upper case is the same address, stored in lower case.
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "btc",
         "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"),
        # Taproot (SegWit v1, Bech32m).
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "btc",
         "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"),
        # EVM: compared in lower case, whatever case the officer copied. In one case throughout there is no
        # checksum to check; in mixed case the capitals are the EIP-55 checksum (the EIP's own examples).
        ("0x52908400098527886E0F7030069857D2E4169EE7", "eth", "0x52908400098527886e0f7030069857d2e4169ee7"),
        ("0xde709f2102306220921060314715629080e2fb77", "eth", "0xde709f2102306220921060314715629080e2fb77"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
        ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "eth", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"),
        ("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "eth", "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"),
        ("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "eth", "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb"),
        # Tron (Base58Check, version 0x41), Solana (32-byte Base58 key), Litecoin (L…, M…, ltc1…).
        ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "sol", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
        ("LKDyUEtTR1HXamkiEphisSiBJu6o3ZPE34", "ltc", "LKDyUEtTR1HXamkiEphisSiBJu6o3ZPE34"),
        ("M7uBSTV2qNDHDe2tHfNMqhFkZucgRMpJQk", "ltc", "M7uBSTV2qNDHDe2tHfNMqhFkZucgRMpJQk"),
        ("ltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn3s44dy", "ltc", "ltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn3s44dy"),
    ],
)
def test_valid_wallets_are_recognized_per_chain_and_normalized(value: str, chain: str, normalized: str) -> None:
    assert _normalize("wallet", value) == ("wallet", chain, normalized)
    # Surrounding blanks (a copy from a PDF) do not matter.
    assert _normalize("wallet", f"  {value}\n") == ("wallet", chain, normalized)
    if chain != "eth":
        assert identifier_normalize(kind="wallet", value=value).written == normalized


# EIP-55's own examples: all capitals, all lower case, and mixed; each is its address's checksummed spelling.
EIP55_EXAMPLES = ["0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
                  "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
                  "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                  "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_an_evm_address_is_written_out_with_its_eip55_capitals_whatever_case_it_came_in(address: str) -> None:
    for entered in (address, address.lower(), "0x" + address[2:].upper()):
        wallet = identifier_normalize(kind="wallet", value=entered)
        assert (wallet.normalized, wallet.written) == (address.lower(), address), entered


@pytest.mark.parametrize(
    "value",
    [
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",  # last character changed: Base58Check checksum fails
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # Bech32 checksum fails
        "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",  # mixed case is not a Bech32 string
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # v1 with a Bech32 (not m) checksum
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u",
        "LKDyUEtTR1HXamkiEphisSiBJu6o3ZPE35",
        "ltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn3s44dz",
        "0x52908400098527886E0F7030069857D2E4169EE",  # 39 hex digits
        "0xZZ908400098527886E0F7030069857D2E4169EE7",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # EIP-55: one letter's case changed
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAee",  # EIP-55: one character changed, the capitals kept
        "z" * 44,  # Base58 of Solana length, but 33 bytes: not an ed25519 key
        "not an address",
    ],
)
def test_wallets_with_a_bad_format_or_checksum_are_refused_naming_the_value(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        identifier_normalize(kind="wallet", value=value)
    assert value in refused.value.messages[0]
    assert "checksum" in refused.value.messages[0]


def test_a_wallet_of_another_chain_than_the_one_chosen_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        identifier_normalize(kind="wallet", value="1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", chain="eth")
    assert "is a Bitcoin address, not Ethereum" in refused.value.messages[0]
    # The chosen chain, when it matches, is accepted.
    assert _normalize("wallet", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", chain="tron")[1] == "tron"


@pytest.mark.parametrize(
    ("value", "normalized"),
    [
        ("+44 20 7946 0018", "+442079460018"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("  +49 30 1234567  ", "+49301234567"),
    ],
)
def test_phone_numbers_become_e164(value: str, normalized: str) -> None:
    assert _normalize("phone", value) == ("phone", "", normalized)


@pytest.mark.parametrize("value", ["020 7946 0018", "+44 1", "call me"])
def test_phone_numbers_without_country_code_or_impossible_are_refused(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        identifier_normalize(kind="phone", value=value)
    assert value in refused.value.messages[0]


@pytest.mark.parametrize(
    "value",
    [
        "0x" + "AB12" * 16,
        "ab12" * 16,
        "AB12" * 16,
        "0xab12" + "ab12" * 15,
    ],
)
def test_transaction_hashes_with_or_without_0x_normalize_to_the_same_value(value: str) -> None:
    assert _normalize("tx_hash", value) == ("tx_hash", "", "ab12" * 16)


@pytest.mark.parametrize("value", ["ab12" * 15, "0x" + "ab12" * 15 + "zz12", "0x" + "ab12" * 17])
def test_malformed_transaction_hashes_are_refused(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        identifier_normalize(kind="tx_hash", value=value)
    assert "is not a transaction hash" in refused.value.messages[0]


def test_a_solana_signature_is_a_transaction_hash_kept_as_written() -> None:
    signature = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
    assert _normalize("tx_hash", signature) == ("tx_hash", "", signature)


def test_email_and_uid_are_normalized_and_checked() -> None:
    assert _normalize("email", " Someone.Else@Example.COM ") == ("email", "", "someone.else@example.com")
    assert _normalize("uid", "usr-42ab") == ("uid", "", "USR-42AB")
    for kind, value in [("email", "someone@"), ("email", "no at sign"), ("uid", "ab"), ("uid", "has space")]:
        with pytest.raises(ValidationError) as refused:
            identifier_normalize(kind=kind, value=value)
        assert value in refused.value.messages[0]


def test_an_empty_value_or_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="Enter the identifier"):
        identifier_normalize(kind="wallet", value="   ")
    with pytest.raises(ValidationError, match="Unknown kind"):
        identifier_normalize(kind="passport", value="X1234567")


def test_an_identifier_longer_than_its_column_is_refused_with_a_message() -> None:
    with pytest.raises(ValidationError, match="at most 200 characters"):
        identifier_normalize(kind="email", value=("a" * 190) + "@police.example.gov")
