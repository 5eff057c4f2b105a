"""Multi-question messages: the parts found, and a ranking that gives each part its articles early."""

from __future__ import annotations

import pytest

from indexing.multi_question import interleave, question_parts


@pytest.mark.parametrize(("message", "parts"), [
    ("个体工商户的诉讼主体是什么？", ["个体工商户的诉讼主体是什么？"]),
    ("签了合同对方不履行怎么办？可以要求赔偿吗？", ["签了合同对方不履行怎么办？", "可以要求赔偿吗？"]),
    ("房子是婚前买的，离婚时怎么分？孩子归谁？", ["房子是婚前买的，离婚时怎么分？", "孩子归谁？"]),
    ("借款利息最高多少;超过部分还要还吗", ["借款利息最高多少;", "超过部分还要还吗"]),
    ("欠钱不还怎么办？？", ["欠钱不还怎么办？？"]),  # repeated marks end one question
    ("是吗？这样可以吗", ["是吗？这样可以吗"]),  # a short piece joins its neighbour
    ("能离婚吗？怎么办？", ["能离婚吗？怎么办？"]),
    ("a？b？c？d？", ["a？b？c？d？"]),
])
def test_question_parts(message: str, parts: list[str]) -> None:
    assert question_parts(message) == parts


def test_at_most_three_parts() -> None:
    message = "父母的房子谁继承？欠的债谁来还？遗嘱怎么写才有效？赡养费给多少？"
    assert question_parts(message) == ["父母的房子谁继承？", "欠的债谁来还？", "遗嘱怎么写才有效？"]


def test_interleave_takes_each_ranking_in_turn_without_repeats() -> None:
    assert interleave([["a", "b", "c"], ["x", "a", "y"], []]) == ["a", "x", "b", "c", "y"]
    assert interleave([]) == []
