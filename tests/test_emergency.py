from __future__ import annotations

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
