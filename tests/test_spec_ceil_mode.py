"""spec.ceil_mode: the pooling output size with ceil_mode, derived by counting."""

from __future__ import annotations

import sympy as sp

import spec
import spec.ceil_mode as ceil_mode


def test_the_item_passes_and_derives_the_min_of_two_counts():
    it = ceil_mode.ceil_mode_output_size()
    assert it.passed, it.details["mismatches"]
    assert isinstance(it.result, sp.Min)
    assert it.details["example"]["count"] == 3 and it.details["grid_points"] > 500


def test_counting_by_hand():
    # n = 5, k = 2, s = 2, p = 1: windows start at 0, 2, 4 (and 6 = n + p: not kept)
    assert ceil_mode.count_ceil_positions(5, 2, 2, 1) == 3
    # n = 4, k = 3, s = 2, p = 1: starts 0, 2 fit; 4 overruns by 1 < s and 4 < n + p = 5
    assert ceil_mode.count_ceil_positions(4, 3, 2, 1) == 3
    # n = 1, k = 2, s = 2: the single window reaches one cell past the input
    assert ceil_mode.count_ceil_positions(1, 2, 2) == 1
    assert ceil_mode.count_ceil_positions(1, 2, 1) == 0  # overruns by 1, not < s = 1


def test_the_item_fails_without_pytorchs_start_rule(monkeypatch):
    def plain_ceiling(n, k, s=1, p=0, d=1, ceil_mode=False):
        if isinstance(n, sp.Basic):
            return sp.ceiling((n + 2 * p - d * (k - 1) - 1) / s) + 1
        return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1

    monkeypatch.setattr(ceil_mode, "output_size", plain_ceiling)
    it = ceil_mode.ceil_mode_output_size()
    assert not it.passed and it.details["mismatches"]
    # (n, k, s, p, d, counted, formula, ...): the ceiling alone counts one window too many
    assert all(m[6] == m[5] + 1 for m in it.details["mismatches"])
    assert spec.output_size(5, 2, 2, 1, ceil_mode=True) == 3
