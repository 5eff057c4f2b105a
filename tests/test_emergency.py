from __future__ import annotations

import json
from importlib import resources

import pytest

from bot.answers.emergency import emergency_lines, is_emergency


@pytest.mark.parametrize(
    "question", ["他家暴我", "老公打 我", "有人威胁要杀我", "我不想活了", "爸爸说要喝农药"]
)
def test_danger_words_open_with_110(question: str) -> None:
    lines = emergency_lines(question)
    assert is_emergency(question)
    assert "110" in lines[0] and "人身安全保护令" in lines[0] and "公安机关" in lines[0]


def test_self_harm_adds_its_own_line() -> None:
    assert len(emergency_lines("我不想活了")) == 2
    assert len(emergency_lines("他打我")) == 1


@pytest.mark.parametrize("question", ["邻居借钱不还", "", "打官司要多少钱"])
def test_ordinary_questions_are_not_emergencies(question: str) -> None:
    assert not is_emergency(question) and emergency_lines(question) == ()


# Villagers write in dialect: 俺 for 我, 揍 for 打; the threats come in their words.
@pytest.mark.parametrize(
    "question",
    [
        "老公天天打俺",
        "他喝了酒就揍我",
        "男人又揍俺了咋办",
        "他喝醉了往死里打",
        "他说要砍死我",
        "俺男人拿刀砍俺",
        "他打了俺一巴掌还不让俺走",
        "儿子说要打死俺",
        "他把俺关在屋里三天",
        "俺不想活了",
        "老汉说要喝农药",
        "活着没意思，死了算了",
        "婆婆说要喝敌敌畏",
    ],
)
def test_dialect_threats_open_with_110(question: str) -> None:
    assert is_emergency(question), question
    assert "110" in emergency_lines(question)[0]


@pytest.mark.parametrize(
    "question",
    [
        "打官司要花多少钱",
        "借钱要不要打借条",
        "在外面打工老板不给工钱",
        "俺想打听一下离婚要带啥",
        "催收天天打我电话",
        "他一直打俺电话要账",
        "村里打井占了俺家的地",
        "老伴在卫生院打针打坏了",
        "儿子不给赡养费",
    ],
)
def test_everyday_words_with_da_are_not_emergencies(question: str) -> None:
    assert not is_emergency(question), question


def test_a_harmless_phrase_does_not_hide_a_threat_next_to_it() -> None:
    assert is_emergency("他天天打我电话，还说要杀了我全家")
    assert is_emergency("他打我，还打我电话骂人")


def test_the_word_lists_are_tidy() -> None:
    raw = json.loads((resources.files("bot") / "data" / "emergency.json").read_text(encoding="utf-8"))
    words = [w for group in raw["groups"] for w in group["words"]]
    assert all(w.strip() == w and w for w in words) and len(words) == len(set(words))
    # A harmless phrase that holds no alarm word is dead data: it would never change an answer.
    assert all(any(w in phrase for w in words) for phrase in raw["not_words"])
