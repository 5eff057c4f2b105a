"""WeChat request authentication and the AES envelope of 兼容/安全 mode.

Signatures are compared in constant time (wechatpy's `check_signature` uses `!=`); a stale timestamp is
refused; AES decryption tries the current, then the previous EncodingAESKey, and the reply is encrypted
with whichever key worked (https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md).
"""

from __future__ import annotations

import hmac
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

# ASCII only (str.isdigit() also takes "²" and Arabic-Indic digits); ten digits reach the year 2286.
_TIMESTAMP = re.compile(r"[0-9]{1,10}")
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,32}")


class SignatureRejected(PermissionError):
    """Missing, forged or stale request signature; answered with HTTP 403."""

    status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(f"forbidden: {reason}")
        self.reason = reason


class DecryptionFailed(ValueError):
    """A correctly signed AES body that neither configured EncodingAESKey opens; HTTP 400."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decrypt: {reason}")
        self.reason = reason


def sign(token: str, *parts: str) -> str:
    """SHA1 of the dictionary-sorted concatenation of token and parts (WeChat's request signature)."""
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    signature: str = signer.signature
    return signature


@dataclass(frozen=True, slots=True)
class SignedQuery:
    """The verified query of a WeChat request."""

    timestamp: str
    nonce: str
    encrypted: bool  # encrypt_type=aes: the body carries <Encrypt> and the reply must be encrypted
    msg_signature: str
    signature: str = ""
    # Until when (Unix seconds) the same signature could pass the clock check again: it must be remembered
    # that long to refuse a replay (see `replayable_until`).
    replayable_until: float = 0.0


def verify_query(query: Mapping[str, str], *, token: str, now: float, max_skew_s: float) -> SignedQuery:
    """Check `signature` (present on every request) and the timestamp's freshness."""
    signature, timestamp, nonce = (query.get(name, "") for name in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise SignatureRejected("signature, timestamp and nonce are required")
    if not _TIMESTAMP.fullmatch(timestamp) or not _NONCE.fullmatch(nonce):
        raise SignatureRejected("malformed timestamp or nonce")
    if not hmac.compare_digest(sign(token, timestamp, nonce).encode(), signature.encode("utf-8", "replace")):
        raise SignatureRejected("signature does not match")
    if abs(now - int(timestamp)) > max_skew_s:
        raise SignatureRejected(f"timestamp is more than {max_skew_s:.0f} s away from the server clock")
    encrypt_type = query.get("encrypt_type", "raw").lower()
    if encrypt_type not in ("raw", "aes"):
        raise SignatureRejected(f"unknown encrypt_type {encrypt_type[:10]!r}")
    until = replayable_until(token, timestamp, nonce) + max_skew_s
    return SignedQuery(timestamp, nonce, encrypt_type == "aes", query.get("msg_signature", ""), signature, until)


def replayable_until(token: str, timestamp: str, nonce: str) -> int:
    """The latest timestamp under which this signature verifies, read every way the signed string allows.

    The signed string is the sorted parts joined without separators, so the same signature also verifies
    for any other (timestamp, nonce) that sorts and joins to the same string: a ten-digit nonce swapped
    with the timestamp, say, is valid again when the clock reaches the nonce's value. The format rules
    above leave only readings with a ten-digit timestamp to consider (shorter ones lie before 2001).
    """
    joined = "".join(sorted((token, timestamp, nonce)))
    sizes = {"token": len(token), "timestamp": 10, "nonce": len(joined) - len(token) - 10}
    readings = [int(timestamp)]
    for order in itertools.permutations(sizes):
        ends = list(itertools.accumulate(sizes[part] for part in order))
        blocks = [joined[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
        parts = dict(zip(order, blocks, strict=True))
        if (parts["token"] == token and _TIMESTAMP.fullmatch(parts["timestamp"])
                and _NONCE.fullmatch(parts["nonce"]) and sorted(blocks) == blocks):  # fmt: skip
            readings.append(int(parts["timestamp"]))
    return max(readings)


class Envelope:
    """The account's AES keys: opens 兼容/安全 mode bodies and seals the replies."""

    def __init__(self, *, token: str, app_id: str, aes_keys: tuple[str, ...]) -> None:
        self.token = token
        self.cryptos = tuple(WeChatCrypto(token, key, app_id) for key in aes_keys if key)

    def open(self, encrypt: str, query: SignedQuery) -> tuple[str, WeChatCrypto]:
        """The plaintext XML inside <Encrypt>, and the key (as a WeChatCrypto) that opened it."""
        if not self.cryptos:
            raise DecryptionFailed("encrypt_type=aes but PUFA_WECHAT_AES_KEY is not configured")
        expected = sign(self.token, query.timestamp, query.nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), query.msg_signature.encode("utf-8", "replace")):
            raise SignatureRejected("msg_signature is missing or does not match")
        for crypto in self.cryptos:
            try:
                # A dict skips wechatpy's own (unguarded) XML parse; its `!=` re-check runs after ours.
                return crypto.decrypt_message(
                    {"Encrypt": encrypt}, query.msg_signature, query.timestamp, query.nonce
                ), crypto
            except Exception:  # noqa: BLE001 - a wrong key fails as padding, struct, unicode or AppId errors
                continue
        raise DecryptionFailed("neither the current nor the previous EncodingAESKey opens the message")

    @staticmethod
    def seal(reply_xml: str, crypto: WeChatCrypto, query: SignedQuery) -> str:
        """The encrypted reply, signed with the request's timestamp and nonce."""
        sealed: str = crypto.encrypt_message(reply_xml, query.nonce, query.timestamp)
        return sealed
