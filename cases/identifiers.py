"""Subject identifiers: checked and normalized so the same subject is found in every case.

Wallet addresses are format-checked for the main chains, with the chain's own checksum where it
has one: Base58Check (Bitcoin legacy and P2SH, Litecoin, Tron), Bech32 / Bech32m (SegWit and
Taproot, via the reference `bech32` package), EIP-55 for an EVM address (Ethereum, BNB Chain,
Polygon …) written in mixed case; an EVM address in one case carries no checksum and is taken as
written. EVM addresses are compared in lower case. Phone numbers become E.164 through `phonenumbers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import base58
import bech32
import phonenumbers
from Crypto.Hash import keccak  # Ethereum's Keccak-256: not hashlib.sha3_256, whose padding differs
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_BECH32M_CONST = 0x2BC830A3
_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")
_UID = re.compile(r"^[0-9A-Za-z_-]{4,40}$")

MAX_LENGTH = 200  # SubjectIdentifier.value and .normalized

CHAIN_CHOICES = [
    ("", "Detect from the address"),
    ("btc", "Bitcoin"),
    ("eth", "Ethereum / EVM (BNB Chain, Polygon, Arbitrum …)"),
    ("tron", "Tron"),
    ("sol", "Solana"),
    ("ltc", "Litecoin"),
]


@dataclass(frozen=True)
class NormalizedIdentifier:
    kind: str
    chain: str
    normalized: str  # what subjects are matched on

    @property
    def written(self) -> str:
        """The identifier as it is best written out: an EVM address with its EIP-55 capitals, so that a
        wallet it is copied into checks it; any other as normalized."""
        return _eip55_written(self.normalized) if self.chain == "eth" and self.kind == "wallet" else self.normalized


def _segwit_ok(hrp: str, address: str) -> bool:
    lowered = address.lower()
    if address not in (lowered, address.upper()) or not lowered.startswith(hrp + "1"):
        return False
    data_part = lowered[len(hrp) + 1 :]
    if len(data_part) < 6 or any(ch not in bech32.CHARSET for ch in data_part):
        return False
    data = [bech32.CHARSET.find(ch) for ch in data_part]
    checksum = bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + data)
    version = data[0]
    program = bech32.convertbits(data[1:-6], 5, 8, False)
    if program is None or not 2 <= len(program) <= 40 or version > 16:
        return False
    if version == 0:
        return checksum == 1 and len(program) in (20, 32)
    return checksum == _BECH32M_CONST


def _eip55_written(address: str) -> str:
    """EIP-55: an EVM address spells its Keccak-256 checksum in the case of its letters (a letter is upper
    case where the hash of the lower-case hex digits has a nibble of 8 or more)."""
    lowered = address[2:].lower()
    nibbles = keccak.new(digest_bits=256, data=lowered.encode("ascii")).hexdigest()[:40]
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(lowered, nibbles, strict=True))


def _eip55_ok(address: str) -> bool:
    """A mixed-case EVM address must be its EIP-55 spelling; one case throughout carries no checksum."""
    digits = address[2:]
    return digits in (digits.lower(), digits.upper()) or address == _eip55_written(address)


def _base58check_version(address: str) -> int | None:
    if not _BASE58.match(address):
        return None
    try:
        payload = base58.b58decode_check(address)
    except ValueError:
        return None
    return payload[0] if len(payload) == 21 else None


def _wallet_chain(address: str) -> str | None:
    """The chain whose format and checksum the address satisfies, or None (EIP-55's checksum is checked by
    `identifier_normalize`, to say what is wrong)."""
    if _HEX40.match(address):
        return "eth"
    if _segwit_ok("bc", address):
        return "btc"
    if _segwit_ok("ltc", address):
        return "ltc"
    version = _base58check_version(address)
    if version in (0x00, 0x05):
        return "btc"
    if version == 0x41:
        return "tron"
    if version in (0x30, 0x32):
        return "ltc"
    if _BASE58.match(address) and 32 <= len(address) <= 44:
        try:
            if len(base58.b58decode(address)) == 32:
                return "sol"
        except ValueError:
            return None
    return None


def identifier_normalize(*, kind: str, value: str, chain: str = "") -> NormalizedIdentifier:
    """Check one identifier; raise ValidationError with a message naming what is wrong."""
    raw = value.strip()
    if not raw:
        raise ValidationError("Enter the identifier or remove the row.")
    if len(raw) > MAX_LENGTH:
        raise ValidationError(f"An identifier has at most {MAX_LENGTH} characters; this one has {len(raw)}.")
    if kind == "uid":
        if not _UID.match(raw):
            raise ValidationError(f"“{raw}” is not an exchange UID (4–40 letters, digits, - or _).")
        return NormalizedIdentifier(kind, "", raw.upper())
    if kind == "email":
        try:
            validate_email(raw)
        except ValidationError:
            raise ValidationError(f"“{raw}” is not an e-mail address.") from None
        return NormalizedIdentifier(kind, "", raw.lower())
    if kind == "phone":
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            raise ValidationError(f"“{raw}”: write the phone number with its country code, e.g. +44 20 7946 0018.") from None
        if not phonenumbers.is_possible_number(number):
            raise ValidationError(f"“{raw}” is not a possible phone number.")
        return NormalizedIdentifier(kind, "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if kind == "wallet":
        detected = _wallet_chain(raw)
        if detected is None:
            raise ValidationError(
                f"“{raw}” is not a valid Bitcoin, EVM, Tron, Solana or Litecoin address (its format or checksum "
                "does not match). Copy it again from the source."
            )
        if detected == "eth" and not _eip55_ok(raw):
            raise ValidationError(
                f"“{raw}” is an EVM address in mixed case whose capitals do not match its EIP-55 checksum: a "
                "character was probably changed. Copy it again from the source."
            )
        if chain and chain != detected:
            names = dict(CHAIN_CHOICES)
            raise ValidationError(f"“{raw}” is a {names[detected]} address, not {names.get(chain, chain)}.")
        normalized = raw.lower() if detected == "eth" or raw.lower().startswith(("bc1", "ltc1")) else raw
        return NormalizedIdentifier(kind, detected, normalized)
    if kind == "tx_hash":
        if not _HEX64.match(raw) and not (_BASE58.match(raw) and 80 <= len(raw) <= 90):
            raise ValidationError(f"“{raw}” is not a transaction hash (64 hexadecimal characters, or a Solana signature).")
        normalized = raw.lower().removeprefix("0x") if _HEX64.match(raw) else raw
        return NormalizedIdentifier(kind, chain, normalized)
    raise ValidationError(f"Unknown kind of identifier: {kind}.")
