"""Privacy: openid pseudonyms and encryption, and masking of phone, ID-card and bank-card numbers in questions.

One secret (PUFA_SECRET_KEY) yields an independent sub-key per purpose (HKDF with a fixed label), so a
pseudonym never reveals the encryption key and vice versa. Changing the secret changes every pseudonym
and makes the stored (short-lived) encrypted openids unreadable: plan rotations after the 48 h window.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PSEUDONYM_LABEL = b"pufa/openid-pseudonym/v1"
_ENCRYPTION_LABEL = b"pufa/openid-encryption/v1"
_NONCE_BYTES = 12  # the AES-GCM standard nonce size


class PrivacyError(ValueError):
    """A secret is missing or a stored ciphertext cannot be read with the current secret."""


@lru_cache(maxsize=8)  # every message derives the same few sub-keys several times; HKDF once each
def _subkey(secret_key: str, label: bytes) -> bytes:
    if not secret_key:
        raise PrivacyError("secret_key is empty: set PUFA_SECRET_KEY before storing any record.")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label)
    return hkdf.derive(secret_key.encode("utf-8"))


def pseudonymize(openid: str, *, secret_key: str) -> str:
    """The user's stable pseudonym (64 hex chars): HMAC-SHA256 of the openid under a derived sub-key."""
    key = _subkey(secret_key, _PSEUDONYM_LABEL)
    return hmac.new(key, openid.encode("utf-8"), hashlib.sha256).hexdigest()


def encrypt_openid(openid: str, *, secret_key: str, user_ref: str) -> bytes:
    """nonce ‖ AES-GCM ciphertext; bound to the pseudonym so a ciphertext cannot be moved to another user."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_subkey(secret_key, _ENCRYPTION_LABEL)).encrypt(
        nonce, openid.encode("utf-8"), user_ref.encode()
    )
    return nonce + sealed


def decrypt_openid(token: bytes, *, secret_key: str, user_ref: str) -> str:
    """The openid sealed by `encrypt_openid`; PrivacyError if the key or the pseudonym does not match."""
    aead = AESGCM(_subkey(secret_key, _ENCRYPTION_LABEL))
    try:
        plain = aead.decrypt(token[:_NONCE_BYTES], token[_NONCE_BYTES:], user_ref.encode())
    except InvalidTag as exc:
        raise PrivacyError(
            "stored openid cannot be decrypted: PUFA_SECRET_KEY changed since it was stored, or the record "
            "was altered. It cannot be recovered; the user must write again."
        ) from exc
    return plain.decode("utf-8")


# --- Masking -------------------------------------------------------------------------------------------
# Matching runs on an ASCII twin of the text (same length, one char per char: full-width digits, X,
# dashes, dots, brackets and spaces folded, and the Chinese numerals people dictate phone numbers in),
# so spans found there index the original text directly.
_FOLD = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **dict(zip("〇零一幺二三四五六七八九", "001123456789", strict=True)),
        "Ｘ": "X",
        "ｘ": "X",
        "x": "X",
        "－": "-",
        "–": "-",
        "—": "-",
        "‐": "-",
        "．": ".",
        "＿": "_",
        "\u3000": " ",
        "\u00a0": " ",
        "（": "(",
        "）": ")",
        "＋": "+",
    }
)
_SEP = "[ ._-]?"  # people type numbers in groups: 138 1234 5678, 138-1234-5678, 138.1234.5678, 1 3 8 …
_D = "[0-9]"


def _digits(n: int | str) -> str:
    """n more digits (or "m,n"), each optionally preceded by one separator."""
    return f"(?:{_SEP}{_D}){{{n}}}"


# Each pattern captures the whole number as `num`; its `head` and last `tail` digits stay visible.
# ID card: region code (no leading 0) and 16 more digits, then a check digit or X: 3601**********1234.
_ID_CARD = re.compile(rf"(?<![0-9])(?P<num>(?P<head>[1-9]{_digits(3)}){_digits(13)}{_SEP}[0-9X])(?![0-9])")
# Bank card: 16 to 19 digits (groups of four as printed), nothing number-like joined on either side, so a
# list of amounts "1000 2000 3000 4000 5000" is left alone: 6222***********0123.
_BANK_CARD = re.compile(
    rf"(?<![0-9])(?<![0-9][ ._-])(?P<num>(?P<head>[1-9]{_digits(3)}){_digits('12,15')})(?![ ._-]?[0-9])"
)
# First-generation ID card: region code and YYMMDD and 3 digits, 15 in all (the date is checked below).
_ID_CARD_15 = re.compile(rf"(?<![0-9])(?P<num>(?P<head>[1-9]{_digits(3)}){_digits(11)})(?![0-9])")
# Landline: area code 0xx / 0xxx, optionally bracketed, then 7 or 8 digits: 0791-****567.
_LANDLINE = re.compile(
    rf"(?<![0-9])(?P<num>\(?(?P<head>0[1-9]{_D}{{1,2}})\)?{_SEP}{_D}{_digits(6)}(?:{_SEP}{_D})?)(?![0-9])"
)
# Mobile: 1[3-9] and nine more digits, after an optional +86 / 0086 / 86 left as it is: 138****5678.
_MOBILE = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)?86{_SEP})?(?P<num>(?P<head>1{_SEP}[3-9]{_SEP}{_D}){_digits(8)})(?![0-9])"
)


def _any(digits: str) -> bool:  # noqa: ARG001 (every rule takes the number)
    return True


def _dated(digits: str) -> bool:
    """A 15-digit ID card's YYMMDD is a plausible date (so an arbitrary 15-digit number is left alone)."""
    month, day = int(digits[8:10]), int(digits[10:12])
    return 1 <= month <= 12 and 1 <= day <= 31


# IDs first: they are the longest, and a masked digit can no longer feed a later rule.
_RULES = ((_ID_CARD, 4, _any), (_BANK_CARD, 4, _any), (_ID_CARD_15, 3, _dated), (_LANDLINE, 3, _any),
          (_MOBILE, 4, _any))  # fmt: skip


def _hidden_positions(folded: str, match: re.Match[str], tail: int) -> list[int]:
    """Indexes of the digits between the number's visible head and its last `tail` digits."""
    body = [i for i in range(match.end("head"), match.end("num")) if folded[i] in "0123456789X"]
    return body[: len(body) - tail]


def _number(match: re.Match[str]) -> str:
    return "".join(c for c in match.group("num") if c in "0123456789X")


def mask_pii(text: str) -> str:
    """Mask phone, ID-card and bank-card numbers, keeping their ends and separators: 138****5678.

    Every other character (amounts like 5000元, years, dates, article numbers, full-width text) is
    returned unchanged, and the result has the same length as the input. Names are not masked.
    """
    chars = list(text)
    folded = text.translate(_FOLD)
    for pattern, tail, plausible in _RULES:
        hidden = [
            i
            for m in pattern.finditer(folded)
            if plausible(_number(m))
            for i in _hidden_positions(folded, m, tail)
        ]
        for i in hidden:
            chars[i] = "*"
        folded = "".join("*" if c == "*" else f for c, f in zip(chars, folded, strict=True))
    return "".join(chars)
