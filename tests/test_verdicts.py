"""The five verdicts and their two rules (pose_helpers.chapters.verdicts)."""

from __future__ import annotations

import math

import pytest

from pose_helpers.chapters import verdicts


def test_margin_verdict_has_an_inconclusive_band_of_the_noise():
    assert verdicts.margin_verdict(2.0, 1.0) == "holds"
    assert verdicts.margin_verdict(-2.0, 1.0) == "does not hold"
    assert verdicts.margin_verdict(0.5, 1.0) == "inconclusive"
    assert verdicts.margin_verdict(-1.0, 1.0) == "inconclusive"
    assert verdicts.margin_verdict(math.nan, 1.0) == "not tested"
    with pytest.raises(ValueError, match="noise"):
        verdicts.margin_verdict(1.0, -1.0)


def test_effect_verdict_by_hand():
    assert verdicts.effect_verdict(84.5, 85.9, 1.5, 0.05) == "holds"
    assert verdicts.effect_verdict(50.0, 85.9, 1.5, 0.05) == "holds in direction only"
    assert verdicts.effect_verdict(-10.0, 85.9, 1.5, 0.05) == "does not hold"
    assert verdicts.effect_verdict(1.0, 85.9, 1.5, 0.05) == "inconclusive"
    assert verdicts.effect_verdict(math.nan, 85.9, 1.5) == "not tested"


def test_combine_takes_the_weakest_part():
    assert verdicts.combine(["holds", "holds"]) == "holds"
    assert verdicts.combine(["holds", "inconclusive"]) == "inconclusive"
    assert verdicts.combine(["holds in direction only", "does not hold"]) == "does not hold"
    with pytest.raises(ValueError, match="verdicts"):
        verdicts.combine(["maybe"])


def test_noise_and_precision():
    assert verdicts.difference_noise(1.0, 2, 1.0, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="seeds"):
        verdicts.difference_noise(1.0, 1, 1.0, 2)
    assert verdicts.printed_precision("85,9%") == pytest.approx(0.05)
    assert verdicts.printed_precision("4") == pytest.approx(0.5)
    assert verdicts.printed_precision("136.30") == pytest.approx(0.005)
    with pytest.raises(ValueError, match="printed"):
        verdicts.printed_precision("n/a")
