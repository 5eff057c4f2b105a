"""wechat_crypto: the request signature, the timestamp window, and AES with key rotation (via wechatpy)."""

from __future__ import annotations

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.wechat.crypto import (
    DecryptionFailed,
    Envelope,
    SignatureRejected,
    replayable_until,
    sign,
    verify_query,
)
from tests.fixtures.web import AES_KEY, APP_ID, PREVIOUS_AES_KEY, TOKEN

NOW = 1_767_225_600


def query(timestamp: int = NOW, nonce: str = "1320562132", **extra: str) -> dict[str, str]:
    return {
        "signature": sign(TOKEN, str(timestamp), nonce),
        "timestamp": str(timestamp),
        "nonce": nonce,
        **extra,
    }


def test_signature_is_wechats_sorted_sha1() -> None:
    # WeChat's guide: sha1 over the dictionary-sorted concatenation of token, timestamp and nonce.
    import hashlib

    assert (
        sign("tok", "123", "abc") == hashlib.sha1("".join(sorted(["tok", "123", "abc"])).encode()).hexdigest()
    )


def test_valid_query() -> None:
    signed = verify_query(
        query(encrypt_type="aes", msg_signature="m"), token=TOKEN, now=NOW + 299, max_skew_s=300
    )
    assert (signed.timestamp, signed.nonce, signed.encrypted, signed.msg_signature) == (
        str(NOW),
        "1320562132",
        True,
        "m",
    )
    assert not verify_query(query(), token=TOKEN, now=NOW, max_skew_s=300).encrypted


@pytest.mark.parametrize(
    ("params", "now", "reason"),
    [
        ({**query(), "signature": sign("other-token", str(NOW), "1320562132")}, NOW, "does not match"),
        ({k: v for k, v in query().items() if k != "nonce"}, NOW, "required"),
        (query(timestamp=NOW - 301), NOW, "more than 300 s"),
        (query(timestamp=NOW + 301), NOW, "more than 300 s"),
        (query(nonce="]]><x>"), NOW, "malformed"),
        ({**query(), "timestamp": "12a"}, NOW, "malformed"),
        ({**query(), "signature": "签名"}, NOW, "does not match"),
        (query(encrypt_type="rot13"), NOW, "unknown encrypt_type"),
    ],
    ids=[
        "forged",
        "missing-nonce",
        "stale",
        "future",
        "odd-nonce",
        "odd-timestamp",
        "non-ascii",
        "encrypt-type",
    ],
)
def test_refused_queries(params: dict[str, str], now: int, reason: str) -> None:
    with pytest.raises(SignatureRejected, match=reason) as caught:
        verify_query(params, token=TOKEN, now=now, max_skew_s=300)
    assert caught.value.status == 403


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def signed(timestamp: str, nonce: str = "1320562132") -> dict[str, str]:
    """A query whose signature is right for these exact strings: only the format rules can refuse it."""
    return {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


@pytest.mark.parametrize(
    "timestamp",
    ["²", "¹²³", str(NOW).translate(ARABIC_INDIC), "0" + str(NOW), "0" * 4000, f" {NOW}", f"+{NOW}"],
    ids=["superscript-two", "superscripts", "arabic-indic", "eleven-digits", "4000-digits", "space", "plus"],
)
def test_a_timestamp_is_one_to_ten_ascii_digits_even_when_signed(timestamp: str) -> None:
    # Before: "²" passed isdigit() and int() then raised (HTTP 500); Arabic-Indic digits and a leading
    # zero read as the current time, so a differently spelt timestamp was accepted.
    with pytest.raises(SignatureRejected, match="malformed"):
        verify_query(signed(timestamp), token=TOKEN, now=NOW, max_skew_s=300)


def test_the_unseparated_join_forgery_is_refused() -> None:
    captured = signed(str(NOW), "abc")
    assert sign(TOKEN, str(NOW) + "ab", "c") == captured["signature"]  # the parts are joined unseparated
    forged = {**captured, "timestamp": str(NOW) + "ab", "nonce": "c"}
    with pytest.raises(SignatureRejected, match="malformed"):
        verify_query(forged, token=TOKEN, now=NOW, max_skew_s=300)
    with pytest.raises(SignatureRejected, match="malformed"):  # nor with a nonce longer than WeChat's
        verify_query(signed(str(NOW), "n" * 33), token=TOKEN, now=NOW, max_skew_s=300)


def test_a_signature_is_remembered_as_long_as_any_reading_of_it_verifies() -> None:
    later = NOW + 10**6
    captured = verify_query(signed(str(NOW), str(later)), token=TOKEN, now=NOW, max_skew_s=300)
    # A ten-digit nonce swapped with the timestamp signs the same: valid again when the clock reaches it.
    swapped = {"signature": captured.signature, "timestamp": str(later), "nonce": str(NOW)}
    assert verify_query(swapped, token=TOKEN, now=later, max_skew_s=300).signature == captured.signature
    assert captured.replayable_until == later + 300
    assert verify_query(signed(str(NOW), "abc"), token=TOKEN, now=NOW, max_skew_s=300).replayable_until == (
        NOW + 300
    )
    # A nine-digit nonce reads only as timestamps in the past: nothing to keep beyond the window.
    assert replayable_until(TOKEN, str(NOW), "923456789") == NOW
    assert replayable_until(TOKEN, str(NOW), "1320562132") == NOW  # swapped, it would be 2011


def _sealed(key: str, xml: str = "<xml><Content>hi</Content></xml>") -> tuple[str, str]:
    """(Encrypt, msg_signature) as WeChat would send them, from wechatpy."""
    wrapper = xmltodict.parse(WeChatCrypto(TOKEN, key, APP_ID).encrypt_message(xml, "1320562132", str(NOW)))[
        "xml"
    ]
    return wrapper["Encrypt"], wrapper["MsgSignature"]


@pytest.mark.parametrize("key", [AES_KEY, PREVIOUS_AES_KEY])
def test_envelope_opens_with_current_or_previous_key_and_seals_with_it(key: str) -> None:
    envelope = Envelope(token=TOKEN, app_id=APP_ID, aes_keys=(AES_KEY, PREVIOUS_AES_KEY))
    encrypt, msg_signature = _sealed(key)
    signed = verify_query(
        query(encrypt_type="aes", msg_signature=msg_signature), token=TOKEN, now=NOW, max_skew_s=300
    )
    plain, crypto = envelope.open(encrypt, signed)
    assert plain == "<xml><Content>hi</Content></xml>"
    sealed = Envelope.seal("<xml>reply</xml>", crypto, signed)
    wrapper = xmltodict.parse(sealed)["xml"]
    opener = WeChatCrypto(TOKEN, key, APP_ID)
    assert (
        opener.decrypt_message(sealed, wrapper["MsgSignature"], wrapper["TimeStamp"], wrapper["Nonce"])
        == "<xml>reply</xml>"
    )


def test_envelope_refuses_unknown_key_and_missing_configuration() -> None:
    encrypt, msg_signature = _sealed("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
    signed = verify_query(
        query(encrypt_type="aes", msg_signature=msg_signature), token=TOKEN, now=NOW, max_skew_s=300
    )
    with pytest.raises(DecryptionFailed, match="neither the current nor the previous"):
        Envelope(token=TOKEN, app_id=APP_ID, aes_keys=(AES_KEY, PREVIOUS_AES_KEY)).open(encrypt, signed)
    with pytest.raises(DecryptionFailed, match="PUFA_WECHAT_AES_KEY is not configured"):
        Envelope(token=TOKEN, app_id=APP_ID, aes_keys=("", "")).open(encrypt, signed)


def test_envelope_refuses_a_message_for_another_app() -> None:
    encrypt, msg_signature = _sealed(AES_KEY)
    signed = verify_query(
        query(encrypt_type="aes", msg_signature=msg_signature), token=TOKEN, now=NOW, max_skew_s=300
    )
    with pytest.raises(DecryptionFailed):
        Envelope(token=TOKEN, app_id="wxANOTHERAPP", aes_keys=(AES_KEY,)).open(encrypt, signed)
