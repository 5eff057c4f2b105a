from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.answers import replies
from bot.answers.composer import Township
from bot.settings import Settings
from knowledge.corpus import Corpus
from tests.reply_checks import TOWNSHIP, assert_sendable, cited_articles

MENU_FILE = Path(__file__).parents[1] / "docs" / "wechat-menu.json"
FIXED: list[Callable[[Township], str]] = [
    replies.welcome,
    replies.help_text,
    replies.person_contacts,
    replies.voice_without_text,
    replies.empty_question,
    replies.fallback,
    replies.rate_limited,
    replies.no_more,
]
NON_TEXT_TYPES = ["image", "video", "shortvideo", "location", "link", "file", "miniprogrampage"]


def every_reply(township: Township) -> list[str]:
    texts = [build(township) for build in FIXED]
    texts += [replies.non_text_guidance(kind, township) for kind in NON_TEXT_TYPES]
    texts += [replies.menu_topic(key, township) or "" for key in replies.MENU_KEYS]
    return texts


def test_every_reply_is_sendable_and_cites_only_real_articles(full_corpus: Corpus) -> None:
    for text in every_reply(TOWNSHIP):
        assert_sendable(text)
        cited_articles(text, full_corpus)


def test_huge_contact_strings_still_fit() -> None:
    wordy = Township("青山镇" * 50, "助手" * 50, "调解委员会" * 200, "法律顾问" * 200, "12348")
    for text in every_reply(wordy):
        assert_sendable(text)


def test_nothing_township_specific_is_hard_coded() -> None:
    defaults = Settings.model_fields
    leaked = [str(defaults[f].default) for f in ("township", "mediation_contact", "legal_adviser_contact")]
    for text in every_reply(TOWNSHIP):
        assert not [d for d in leaked if d in text], text


def test_welcome_is_three_lines_with_the_privacy_note() -> None:
    lines = replies.welcome(TOWNSHIP).splitlines()
    assert len(lines) == 3
    assert TOWNSHIP.name in lines[0] and TOWNSHIP.bot_name in lines[0]
    assert "微信号" in lines[1] and "统计" in lines[1] and "不含" in lines[1]
    assert TOWNSHIP.hotline in lines[2] and "调解" in lines[2]


def test_help_gives_three_example_questions() -> None:
    text = replies.help_text(TOWNSHIP)
    assert [n for n in ("1.", "2.", "3.") if n in text] == ["1.", "2.", "3."]
    assert all(q in text for q in replies.HELP_EXAMPLES) and len(replies.HELP_EXAMPLES) == 3


def test_person_contacts_name_every_way_to_a_person() -> None:
    text = replies.person_contacts(TOWNSHIP)
    for part in (
        TOWNSHIP.name,
        TOWNSHIP.mediation_contact,
        TOWNSHIP.legal_adviser_contact,
        TOWNSHIP.hotline,
        "110",
    ):
        assert part in text


@pytest.mark.parametrize("key", replies.MENU_KEYS)
def test_menu_topic_gives_a_guide_and_two_examples(key: str) -> None:
    topic = replies.menu_topics()[key]
    text = replies.menu_topic(key, TOWNSHIP)
    assert text is not None and text.startswith(f"【{topic.title}】")
    assert len(topic.examples) == 2 and all(f"“{q}”" in text for q in topic.examples)
    assert "1." in text and "（《" in text  # at least one tip, with its citation


def test_mediation_menu_names_the_township_contacts() -> None:
    text = replies.menu_topic("TOPIC_MEDIATION", TOWNSHIP)
    assert text is not None and TOWNSHIP.mediation_contact in text


def test_unknown_menu_key_is_none() -> None:
    assert replies.menu_topic("V1001_TODAY_MUSIC", TOWNSHIP) is None


@pytest.mark.parametrize("kind", NON_TEXT_TYPES)
def test_non_text_messages_are_asked_to_type(kind: str) -> None:
    text = replies.non_text_guidance(kind, TOWNSHIP)
    assert "文字" in text and "调解" in text


def test_non_text_replies_say_what_was_received() -> None:
    assert "图片" in replies.non_text_guidance("image", TOWNSHIP)
    assert "位置" in replies.non_text_guidance("location", TOWNSHIP)
    assert "暂时看不懂" in replies.non_text_guidance("something-new", TOWNSHIP)


def test_voice_without_text_asks_to_type() -> None:
    assert "打字" in replies.voice_without_text(TOWNSHIP)


def test_wechat_menu_file_matches_the_bot_and_wechat_limits() -> None:
    menu = json.loads(MENU_FILE.read_text(encoding="utf-8"))
    top = menu["button"]
    assert 1 <= len(top) <= 3
    keys = []
    for button in top:
        assert len(button["name"]) <= 4
        subs = button.get("sub_button", [])
        assert len(subs) <= 5
        for item in subs or [button]:
            assert item["type"] == "click" and len(item["name"]) <= 7
            keys.append(item["key"])
    assert sorted(keys) == sorted(replies.MENU_KEYS)
    titles = {replies.menu_topics()[k].title for k in replies.MENU_KEYS}
    assert titles == {item["name"] for b in top for item in b.get("sub_button", [b])}


@pytest.mark.parametrize(
    ("message", "opening"),
    [("你好", "您好！"), ("您好！", "您好！"), ("在吗？", "您好！"), ("你好啊~", "您好！"), ("HELLO", "您好！"),
     ("谢谢", "不客气！"), ("谢谢你", "不客气！"), ("谢谢啦！！", "不客气！"), ("好的", "不客气！"), ("哦", "不客气！"),
     ("嗯嗯👍", "不客气！"), ("ＯＫ", "不客气！")],
)  # fmt: skip
def test_greetings_and_thanks_get_a_welcome_with_three_examples(message: str, opening: str) -> None:
    text = replies.small_talk(message, TOWNSHIP)
    assert text is not None and text.startswith(opening)
    assert all(f"{i}.{q}" in text for i, q in enumerate(replies.HELP_EXAMPLES, 1))
    assert "没有找到" not in text and TOWNSHIP.hotline in text
    assert_sendable(text)


@pytest.mark.parametrize(
    "message", ["你好，邻居借钱不还怎么办", "谢谢，那彩礼能要回来吗", "好的邻居", "在吗 俺想问离婚的事", "打官司", ""]
)
def test_a_message_that_says_more_than_hello_is_a_question(message: str) -> None:
    assert replies.small_talk(message, TOWNSHIP) is None
