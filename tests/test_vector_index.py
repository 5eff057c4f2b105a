from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexing.vector_index import VectorIndex


@pytest.fixture()
def vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    v = rng.normal(size=(300, 48)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_matches_numpy_brute_force(vectors: np.ndarray) -> None:
    index = VectorIndex(vectors)
    rng = np.random.default_rng(11)
    for _ in range(20):
        q = rng.normal(size=48).astype(np.float32)
        q /= np.linalg.norm(q)
        scores, rows = index.search(q, 10)
        brute = vectors @ q
        expected = np.argsort(-brute)[:10]
        assert list(rows) == list(expected)
        np.testing.assert_allclose(scores, brute[expected], rtol=1e-5, atol=1e-6)


def test_k_larger_than_index_and_empty_index() -> None:
    small = VectorIndex(np.eye(3, dtype=np.float32))
    scores, rows = small.search(np.array([0, 1, 0], dtype=np.float32), 10)
    assert list(rows)[0] == 1 and len(rows) == 3
    empty = VectorIndex(np.zeros((0, 3), dtype=np.float32))
    assert len(empty.search(np.ones(3, dtype=np.float32), 5)[1]) == 0


def test_cosines_are_with_the_rows_asked_for_and_nan_elsewhere(vectors: np.ndarray) -> None:
    q = vectors[5]
    cosines = VectorIndex(vectors).cosines(q, np.array([9, 5, 120]))
    assert cosines.shape == (len(vectors),)
    assert cosines[5] == pytest.approx(1.0, abs=1e-5)
    assert cosines[9] == pytest.approx(float(vectors[9] @ q), abs=1e-6)
    assert cosines[120] == pytest.approx(float(vectors[120] @ q), abs=1e-6)
    assert np.isnan(np.delete(cosines, [5, 9, 120])).all()


def test_penalties_shift_the_ranking_but_not_the_cosines(vectors: np.ndarray) -> None:
    penalties = np.random.default_rng(3).uniform(0, 0.5, size=len(vectors)).astype(np.float32)
    index = VectorIndex(vectors, penalties)
    q = vectors[0]
    scores, rows = index.search(q, 10)
    corrected = vectors @ q - penalties
    assert list(rows) == list(np.argsort(-corrected)[:10])
    np.testing.assert_allclose(scores, corrected[rows], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(index.cosines(q, rows)[rows], vectors[rows] @ q, atol=1e-6)


def test_refuses_penalties_of_the_wrong_length(vectors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="3 penalties for 300 vectors"):
        VectorIndex(vectors, np.zeros(3, dtype=np.float32))


def test_save_load_round_trip(tmp_path: Path, vectors: np.ndarray) -> None:
    penalties = np.linspace(0, 0.1, len(vectors), dtype=np.float32)
    VectorIndex(vectors, penalties).save(tmp_path / "v.npy", tmp_path / "p.npy")
    loaded = VectorIndex.load(tmp_path / "v.npy", tmp_path / "p.npy")
    np.testing.assert_array_equal(loaded.vectors, vectors)
    np.testing.assert_array_equal(loaded.penalties, penalties)


def test_refuses_one_dimensional_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        VectorIndex(np.ones(4, dtype=np.float32))
