from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.answers.text import ELLIPSIS, bigrams, clip_bytes, strip_markdown, utf8_len


@given(st.text(max_size=400), st.integers(min_value=10, max_value=600))
def test_clip_bytes_fits_and_keeps_a_prefix(text: str, limit: int) -> None:
    clipped = clip_bytes(text, limit)
    assert utf8_len(clipped) <= limit
    if clipped != text:
        assert clipped.endswith(ELLIPSIS) and text.startswith(clipped.removesuffix(ELLIPSIS))


def test_strip_markdown_keeps_the_words() -> None:
    assert strip_markdown("## 第一条\n**禁止**在`村道`上堆放\n- 柴草\n[说明](http://x)") == (
        "第一条\n禁止在村道上堆放\n柴草\n说明"
    )
    assert strip_markdown("借款人应当按照约定的期限返还借款。") == "借款人应当按照约定的期限返还借款。"


def test_bigrams_stop_at_punctuation() -> None:
    assert bigrams("借钱，不还") == {"借钱", "不还"}
    assert bigrams("") == set()
