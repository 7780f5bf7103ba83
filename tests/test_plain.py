"""Plain values: digests' form, results' JSON form and the value checks."""

import json
import math

import numpy as np

from circle_survival.plain import is_int, is_num, json_ready, plain


def test_plain_sorts_keys_and_lists_tuples():
    assert plain({"b": (1, 2), 3: {"z": 1, "a": [(4,)]}}) == {"3": {"a": [[4]], "z": 1},
                                                              "b": [1, 2]}
    assert list(plain({"b": 1, "a": 2})) == ["a", "b"]


def test_json_ready_against_a_round_trip_through_json():
    value = {1: np.arange(3), "x": (np.float64(0.5), np.int32(7)),
             "bad": [math.nan, -math.inf, np.float32("nan")], "ok": [1.5, None, "s", True]}
    got = json_ready(value)
    assert got == {"1": [0, 1, 2], "x": [0.5, 7], "bad": [None, None, None],
                   "ok": [1.5, None, "s", True]}
    assert list(got) == ["1", "x", "bad", "ok"]  # order kept
    assert json.loads(json.dumps(got, allow_nan=False)) == got  # strict JSON
    assert type(got["x"][1]) is int and type(got["x"][0]) is float


def test_value_checks():
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_num(3) and is_num(2.5) and not is_num(False) and not is_num(math.nan)
    assert not is_num(math.inf) and not is_num("1")
