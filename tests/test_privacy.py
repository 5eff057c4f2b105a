from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.records.privacy import PrivacyError, decrypt_openid, encrypt_openid, mask_pii, pseudonymize

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
KEY = "a-long-random-secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话是13812345678，请回电", "我的电话是138****5678，请回电"),
        ("电话13812345678身份证360102199001011234", "电话138****5678身份证3601**********1234"),
        ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width digits keep their width
        ("打138 1234 5678找我", "打138 **** 5678找我"),
        ("138-1234-5678", "138-****-5678"),
        ("手机：+86 13912345678。", "手机：+86 139****5678。"),
        ("8613912345678", "86139****5678"),
        ("座机0791-1234567", "座机0791-****567"),
        ("（0791）12345678", "（0791）*****678"),
        ("身份证号360102199001011234", "身份证号3601**********1234"),
        ("36010219900101123X", "3601**********123X"),
        ("36010219900101123x号", "3601**********123x号"),
        ("３６０１０２１９９００１０１１２３Ｘ", "３６０１**********１２３Ｘ"),
        ("360102 19900101 1234", "3601** ******** 1234"),
        # Issue 24: forms the masking missed.
        ("138.1234.5678", "138.****.5678"),
        ("138_1234_5678", "138_****_5678"),
        ("1 3 8 1 2 3 4 5 6 7 8", "1 3 8 * * * * 5 6 7 8"),
        ("电话一三八一二三四五六七八", "电话一三八****五六七八"),
        ("幺三八 一二三四 五六七八", "幺三八 **** 五六七八"),
        ("身份证360102900101123", "身份证3601********123"),  # 15 digits, born 1990-01-01
        ("银行卡6222021234567890123", "银行卡6222***********0123"),
        ("卡号6222 0212 3456 7890", "卡号6222 **** **** 7890"),
        ("打13812345678或13912345678", "打138****5678或139****5678"),
    ],
)
def test_mask_pii_hides_the_middle_of_phone_and_id_numbers(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "邻居借了我5000元一直不还",
        "2023年5月13日借的，借了13800元",
        "2023-05-13 13:45 在村口",
        "20230513签的合同",
        "宅基地长13米宽8米，面积104平方米",
        "第1079条",
        "138123456789",  # twelve digits: not a mobile number
        "1381234567",  # ten digits
        "123456789012345",  # 15 digits without a date where an ID card has one
        "1000 2000 3000 4000 5000",  # amounts in a row are not a card number
        "第一千零七十九条",
        "二〇二三年五月十三日借了五千元",
        "一九九〇年出生，家里七八口人",
        "2023.05.13 借了3.5万",
        "借款期限12个月，年利率3.85%",
    ],
)
def test_mask_pii_leaves_amounts_dates_and_other_numbers(text: str) -> None:
    assert mask_pii(text) == text


@given(
    st.text(alphabet=st.sampled_from("0123456789０１２３４５６７８９Xx -._元年月日借钱电话（）+一三八零"), max_size=60)
)
def test_mask_pii_only_replaces_digits_and_is_idempotent(text: str) -> None:
    masked = mask_pii(text)
    assert len(masked) == len(text)
    assert all(
        m == t or (m == "*" and t in "0123456789０１２３４５６７８９Xx一三八零")
        for m, t in zip(masked, text, strict=True)
    )
    assert mask_pii(masked) == masked


def test_pseudonym_is_stable_keyed_and_not_the_openid() -> None:
    ref = pseudonymize(OPENID, secret_key=KEY)
    assert ref == pseudonymize(OPENID, secret_key=KEY)
    assert len(ref) == 64 and OPENID not in ref
    assert ref != pseudonymize(OPENID, secret_key=KEY + "x")
    assert ref != pseudonymize(OPENID + "x", secret_key=KEY)


def test_encrypted_openid_decrypts_only_with_the_same_key_and_pseudonym() -> None:
    ref = pseudonymize(OPENID, secret_key=KEY)
    token = encrypt_openid(OPENID, secret_key=KEY, user_ref=ref)
    assert OPENID.encode() not in token
    assert token != encrypt_openid(OPENID, secret_key=KEY, user_ref=ref)  # fresh nonce each time
    assert decrypt_openid(token, secret_key=KEY, user_ref=ref) == OPENID
    with pytest.raises(PrivacyError, match="PUFA_SECRET_KEY changed"):
        decrypt_openid(token, secret_key="another-secret", user_ref=ref)
    with pytest.raises(PrivacyError):
        decrypt_openid(token, secret_key=KEY, user_ref=pseudonymize("someone-else", secret_key=KEY))


def test_empty_secret_is_refused() -> None:
    with pytest.raises(PrivacyError, match="PUFA_SECRET_KEY"):
        pseudonymize(OPENID, secret_key="")
