from __future__ import annotations

import pytest

from indexing.fusion import RRF_K, reciprocal_rank_fusion


def test_rrf_matches_hand_computed_scores() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]]))
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert fused["b"] == pytest.approx(1 / (RRF_K + 2))
    assert fused["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))


def test_rrf_orders_by_fused_score_and_keeps_first_seen_order_on_ties() -> None:
    fused = reciprocal_rank_fusion([["x", "y"], ["y", "x"], ["z"]])
    assert [key for key, _ in fused] == ["x", "y", "z"]


def test_rrf_weights_shift_the_order() -> None:
    fused = reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, 2.0])
    assert [key for key, _ in fused] == ["b", "a"]


def test_rrf_refuses_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="2 weights for 1 rankings"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])
