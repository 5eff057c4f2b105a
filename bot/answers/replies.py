"""Fixed replies of the conversation (welcome, help, 人工, menu topics, guidance). Pure text builders.

Every reply is plain text within WeChat's 2048-byte limit; township names and contacts come from the
Township argument, menu guides from bot/data/menu.json and the topic guides.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import chain, zip_longest

from bot.answers.guides import Tip, guide
from bot.answers.text import MAX_REPLY_BYTES, clip_bytes
from bot.answers.township import Township

MENU_KEYS = (
    "TOPIC_MARRIAGE",
    "TOPIC_DEBT",
    "TOPIC_LAND",
    "TOPIC_ELDERLY",
    "TOPIC_NEIGHBOUR",
    "TOPIC_MEDIATION",
)
MAX_MENU_TIPS = 3

HELP_EXAMPLES = (
    "邻居借了我五千块钱一直不还怎么办",
    "儿子不给老人赡养费怎么办",
    "邻居盖房占了我家宅基地怎么办",
)
# Whole messages that only greet or thank: a welcome, not "没有找到与您的问题直接相关的法律条文".
_GREETINGS = frozenset({
    "你好", "您好", "你们好", "大家好", "在吗", "在不在", "有人吗", "有人在吗", "哈喽", "hello", "hi",
    "早", "早上好", "上午好", "中午好", "下午好", "晚上好", "老师好", "同志你好", "小助手你好", "你好小助手",
})  # fmt: skip
_THANKS = frozenset({
    "谢谢", "谢谢你", "谢谢您", "谢谢了", "多谢", "感谢", "非常感谢", "太感谢了", "好的", "好", "好的谢谢",
    "谢谢好的", "哦", "噢", "嗯", "嗯嗯", "知道了", "明白了", "懂了", "收到", "行", "ok", "okay",
})  # fmt: skip
_PARTICLES = "啊呀哈啦吧呢嘛哦噢喔"
_ASK_IN_WORDS = "请用文字说说您遇到的事，例如：“邻居借钱不还怎么办”。也可以点下方菜单，或回复“调解”找人帮忙。"
_NON_TEXT_OPENINGS = {
    "image": "收到您的图片，但我暂时看不懂图片。",
    "video": "收到您的视频，但我暂时看不了视频。",
    "shortvideo": "收到您的视频，但我暂时看不了视频。",
    "location": "收到您的位置。",
    "link": "收到您的链接，但我暂时打不开链接。",
    "file": "收到您的文件，但我暂时看不了文件。",
}


class MenuDataError(ValueError):
    """bot/data/menu.json is malformed or does not match MENU_KEYS."""


@dataclass(frozen=True, slots=True)
class MenuTopic:
    title: str
    categories: tuple[str, ...]  # whose guide tips the button shows
    examples: tuple[str, ...]


@cache
def menu_topics() -> dict[str, MenuTopic]:
    """The menu buttons' contents, loaded once; keys are exactly MENU_KEYS."""
    raw = json.loads((resources.files("bot") / "data" / "menu.json").read_text(encoding="utf-8"))
    entries = raw.get("topics", {})
    if set(entries) != set(MENU_KEYS):
        raise MenuDataError(f"menu.json must define exactly {MENU_KEYS}; got {tuple(entries)}")
    return {
        key: MenuTopic(e["title"], tuple(e["categories"]), tuple(e["examples"])) for key, e in entries.items()
    }


def _fit(*lines: str) -> str:
    return clip_bytes("\n".join(lines), MAX_REPLY_BYTES)


def _get_help(township: Township) -> str:
    return f"需要人帮忙：回复“调解”，或拨打{township.hotline}法律服务热线；遇到危险请拨打110。"


def welcome(township: Township) -> str:
    return _fit(
        f"您好，这里是{township.name}{township.bot_name}：发一句话说说您遇到的事（借钱、婚姻、宅基地、赡养……），"
        "我告诉您法律怎么规定、下一步找谁。",
        "您的提问会被记录，用于普法统计，记录里不含您的微信号。",
        _get_help(township),
    )


def help_text(township: Township) -> str:
    examples = [f"{i}.{q}" for i, q in enumerate(HELP_EXAMPLES, 1)]
    return _fit(
        f"{township.bot_name}使用方法：直接发一句话，说清楚是谁、发生了什么、想怎么办。例如：",
        *examples,
        "回复“更多”看更多相关条文，回复“调解”找人帮忙，也可以点下方菜单。",
    )


def small_talk(text: str, township: Township) -> str | None:
    """A short welcome with three example questions when the whole message only greets or thanks
    (你好, 在吗, 谢谢, 好的, 哦…); None for anything else, which is a question."""
    kind = _small_talk_kind(text)
    if kind is None:
        return None
    examples = [f"{i}.{q}" for i, q in enumerate(HELP_EXAMPLES, 1)]
    opening = (
        "不客气！还有别的事，直接发一句话问我，例如："
        if kind == "thanks"
        else f"您好！我是{township.name}{township.bot_name}，能告诉您法律怎么规定、下一步找谁。"
        "直接发一句话说说您遇到的事，例如："
    )
    return _fit(opening, *examples, _get_help(township))


def _small_talk_kind(text: str) -> str | None:
    """"greeting" or "thanks" for a message that is only that (spacing, punctuation, emoji and a trailing
    啊 / 呀 / 哈… ignored), else None."""
    letters = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch)[0] in "LN")
    letters = letters.lower()
    for candidate in (letters, letters.rstrip(_PARTICLES)):
        if candidate in _GREETINGS:
            return "greeting"
        if candidate in _THANKS:
            return "thanks"
    return None


def person_contacts(township: Township) -> str:
    """The reply to 人工 / 调解: who can help, where and when."""
    return _fit(
        f"{township.name}能帮您的人：",
        f"人民调解：{township.mediation_contact}",
        f"法律顾问：{township.legal_adviser_contact}",
        f"法律服务热线：{township.hotline}",
        "人民调解不收费，达成的调解协议有法律约束力。",
        "遇到危险请立即拨打110。",
    )


def menu_topic(key: str, township: Township) -> str | None:
    """A menu button's short guide and two example questions; None for an unknown key."""
    topic = menu_topics().get(key)
    if topic is None:
        return None
    tips = [f"{i}.{tip.text}（{tip.citation}）" for i, tip in enumerate(_menu_tips(topic), 1)]
    examples = [f"“{q}”" for q in topic.examples[:2]]
    contacts = [f"人民调解：{township.mediation_contact}", f"法律顾问：{township.legal_adviser_contact}"]
    return _fit(
        f"【{topic.title}】",
        *tips,
        *(contacts if key == "TOPIC_MEDIATION" else []),
        *_topic_contacts(topic, township),
        "您可以这样问：",
        *examples,
        f"直接发文字提问即可。{_get_help(township)}",
    )


def _topic_contacts(topic: MenuTopic, township: Township) -> list[str]:
    """可以找：青山镇人民政府、农村土地承包仲裁委员会 — the topics' contacts (bot/data/contacts.json), if any."""
    named = (c.text(township.name) for category in topic.categories for c in township.contacts.contacts(category))
    found = "、".join(dict.fromkeys(named))
    return [f"可以找：{found}"] if found else []


def _menu_tips(topic: MenuTopic) -> list[Tip]:
    """Up to MAX_MENU_TIPS tips, taken in turn from each of the topic's guides."""
    rounds = zip_longest(*(guide(c) for c in topic.categories))
    return [tip for tip in chain.from_iterable(rounds) if tip is not None][:MAX_MENU_TIPS]


def non_text_guidance(msg_type: str, township: Township) -> str:
    """For image / video / location / link / file and unknown message types."""
    opening = _NON_TEXT_OPENINGS.get(msg_type, "这种消息我暂时看不懂。")
    if msg_type in ("image", "file"):
        opening += f"借条、合同等材料，可以带上原件找{township.legal_adviser_contact}看看。"
    elif msg_type == "location":
        opening += f"想当面咨询，可以找{township.mediation_contact}。"
    return _fit(opening, _ASK_IN_WORDS)


def voice_without_text(township: Township) -> str:
    return _fit(
        "没能听清您的语音。请打字提问，一句话说清楚发生了什么；也可以点下方菜单选择问题类型。",
        _get_help(township),
    )


def empty_question(township: Township) -> str:
    return _fit(f"您发来的消息是空的。{_ASK_IN_WORDS}", f"回复“帮助”看{township.bot_name}的使用方法。")


def fallback(township: Township) -> str:
    """Retrieval failed or was too slow: point to people."""
    return _fit(
        "抱歉，暂时没能查到相关条文，请过一会儿再问一次。",
        f"急需帮助可以找{township.mediation_contact}，或拨打{township.hotline}法律服务热线；遇到危险请拨打110。",
    )


def rate_limited(township: Township) -> str:
    return _fit(
        "您发消息太快了，请过一分钟再问。",
        f"急需帮助请拨打{township.hotline}法律服务热线；遇到危险请拨打110。",
    )


def verdict_thanks(satisfaction: int, township: Township) -> str:
    """The reply to a 1 (满意) or 2 (不满意) after an answer; a 2 puts it before a volunteer."""
    if satisfaction == 1:
        return _fit("谢谢您的评价！还有别的问题，直接发文字问我就行。")
    return _fit(
        "谢谢您的评价。这条答复会优先请普法志愿者看一看，需要时会在微信里再回复您。",
        f"想直接找人：回复“调解”，或拨打{township.hotline}法律服务热线；人民调解：{township.mediation_contact}。",
    )


def no_more(township: Township) -> str:
    """更多 with nothing left."""
    return _fit(
        "上一个问题的相关条文已经都发给您了。",
        f"可以换个问题继续问，或回复“调解”找人帮忙，也可以拨打{township.hotline}法律服务热线。",
    )
