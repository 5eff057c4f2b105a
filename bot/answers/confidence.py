"""Confidence: how sure we are that the retrieved articles answer the question, from 0 to 1.

The fused retrieval score is only comparable within one question, so it cannot say "nothing relevant".
Nor can the raw e5 cosine (0.8–0.9 for legal and off-topic questions alike). The hubness-corrected
margin can (Hit.dense_margin = cosine minus the chunk's typical cosine to villager questions).
Measured on the dev set's tuning split and 25 off-topic messages (天气, 充话费, 红烧肉 …) by
scripts/measure_confidence.py: at the composer's threshold (a margin of -0.0055), 98% of legal
questions are answered but only 68% of off-topic ones get the honest "nothing found" reply, since the
question adapter pulls everyday messages toward articles on the same subject; with the on-topic model
(`indexing.on_topic`, `bot.answers.composer.MIN_LEGAL`) as well, 97% and 100% (questions through the token table
of `indexing.static_encoder`; 95% and 100% through the transformer). An article the villager cited
directly is certain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexing.retrieval import Hit

# Margins mapped linearly onto 0..1: off-topic messages sit below the floor, clear matches above
# the ceiling (5th–95th percentiles of the measurement above). The composer's MIN_CONFIDENCE 0.35
# corresponds to a margin of -0.0055.
MARGIN_FLOOR = -0.03
MARGIN_CEILING = 0.04


def hit_strength(hit: Hit) -> float:
    """0..1 for one hit: 1.0 when cited directly, else its scaled dense margin."""
    if "direct" in hit.retrievers:
        return 1.0
    if hit.dense_margin is None:
        return 0.0
    scaled = (hit.dense_margin - MARGIN_FLOOR) / (MARGIN_CEILING - MARGIN_FLOOR)
    return min(max(scaled, 0.0), 1.0)


def confidence(hits: Sequence[Hit]) -> float:
    """The strength of the best hit; 0.0 without hits."""
    return max((hit_strength(hit) for hit in hits), default=0.0)
