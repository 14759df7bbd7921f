"""Which pseudo-query kinds resemble the logged questions."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.resemblance import kind_odds


def _rows(rng: np.random.Generator, n: int, centre: float) -> np.ndarray:
    return rng.normal(centre, 1.0, size=(n, 4))


def test_the_kind_like_the_log_gets_high_odds_and_the_one_unlike_it_low() -> None:
    rng = np.random.default_rng(0)
    like, unlike = _rows(rng, 200, 0.0), _rows(rng, 100, 3.0)
    odds = kind_odds(
        np.vstack([like, unlike]), ["span"] * 200 + ["title"] * 100, _rows(rng, 150, 0)
    )
    assert odds["span"] > 1.0 > 0.25 > odds["title"]
    # scaled so that the mean over the kinds is 1
    assert (odds["span"] + odds["title"]) / 2 == pytest.approx(1.0, abs=0.01)


def test_how_many_of_a_kind_there_are_does_not_move_the_odds() -> None:
    rng = np.random.default_rng(1)
    like, unlike, logged = _rows(rng, 100, 0.0), _rows(rng, 100, 3.0), _rows(rng, 150, 0)
    once = kind_odds(np.vstack([like, unlike]), ["span"] * 100 + ["title"] * 100, logged)
    thrice = kind_odds(
        np.vstack([like, like, like, unlike]), ["span"] * 300 + ["title"] * 100, logged
    )
    assert thrice == pytest.approx(once, abs=0.02)


def test_absent_signals_are_read_as_a_value_and_kinds_in_any_order() -> None:
    rng = np.random.default_rng(1)
    rows = _rows(rng, 60, 0.0)
    rows[::2, 1] = np.nan
    kinds = ["b", "a"] * 30
    odds = kind_odds(rows, kinds, _rows(rng, 40, 0.0))
    assert list(odds) == ["a", "b"] and all(np.isfinite(v) for v in odds.values())


def test_nothing_to_compare_is_refused() -> None:
    rows = np.zeros((3, 4))
    with pytest.raises(ValueError, match="3 rows for 2 kinds"):
        kind_odds(rows, ["a", "b"], rows)
    with pytest.raises(ValueError, match="both"):
        kind_odds(rows, ["a"] * 3, np.zeros((0, 4)))
