"""Edits of the initial embedding in Fourier space, selected by ``RunConfig.intervention``.

An intervention is a mapping with a "kind" key; an empty mapping means none. Frequencies are
circle frequencies k = 1 .. (p-1)//2; F = fft(E, axis=-2) (unnormalised) and S_k = ||F[k]||,
as in ``fourier.py``.

- ``{"kind": "scale", "k": k, "alpha": a}``: multiply F[k] and F[p-k] by a > 0 (paper, exp. 6).
- ``{"kind": "restrict", <one of>, "keep_constant": false}``: keep only some frequencies
  (paper, exp. 9): ``"keep": [k, ...]``, ``"strongest": n`` (the n largest initial signals), or
  ``"random": n`` with an optional ``"seed"`` (default: the run's ``embedding_seed``) and an
  optional ``"exclude_strongest": m`` (draw only among the frequencies outside the m strongest,
  so that "random" circles cannot be the strongest ones). The constant term is kept iff
  ``keep_constant``; for even p the Nyquist term p/2 is removed.
- ``{"kind": "construct", ...}``: build the embedding from scratch (paper, exp. 7), either
  ``"circles": {k: signal, ...}`` or ``"ratio": r`` with ``"signal"`` s (default 80) and
  ``"pair": [k1, k2]`` or ``"pair_seed"`` (draw the pair): S_{k1} = s, S_{k2} = r s. Every other
  frequency, and the constant term, gets ``"floor"`` (default 1e-6). Each F[k] points along a
  random unit direction from ``"direction_seed"`` (default: the run's ``embedding_seed``); the
  drawn embedding is ignored.

:func:`apply_intervention` returns the edited embedding and a JSON-ready dict of what was done
(resolved frequencies, drawn pair, signals).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from . import fourier
from .errors import ConfigError
from .plain import is_int, is_num

KINDS: tuple[str, ...] = ("scale", "restrict", "construct")

_KEYS: dict[str, frozenset[str]] = {
    "scale": frozenset({"kind", "k", "alpha"}),
    "restrict": frozenset({"kind", "keep", "strongest", "random", "seed", "exclude_strongest",
                           "keep_constant"}),
    "construct": frozenset(
        {"kind", "circles", "ratio", "signal", "pair", "pair_seed", "floor", "direction_seed"}
    ),
}
DEFAULT_SIGNAL = 80.0
DEFAULT_FLOOR = 1e-6


# -- validation -------------------------------------------------------------------------------


def _fail(msg: str) -> None:
    raise ConfigError(f"intervention: {msg}")


def _check_freq(k: Any, p: int, what: str) -> int:
    """An int frequency in 1 .. (p-1)//2 (an integer string, e.g. a TOML key, is accepted)."""
    if isinstance(k, str) and k.strip().lstrip("-").isdigit():
        k = int(k)
    if not is_int(k):
        _fail(f"{what} must be an integer frequency, got {k!r}")
    if not 1 <= k <= fourier.n_freq(p):
        _fail(f"{what} {k} is outside 1 .. {fourier.n_freq(p)} for p={p}")
    return int(k)


def _check_count(spec: Mapping[str, Any], key: str, p: int) -> int:
    n = spec[key]
    if not is_int(n) or n < 1:
        _fail(f"{key!r} must be a positive integer, got {n!r}")
    if n > fourier.n_freq(p):
        _fail(f"{key!r} asks for {n} circles but p={p} has only {fourier.n_freq(p)}")
    return int(n)


def _check_seed(spec: Mapping[str, Any], key: str) -> None:
    if key in spec and (not is_int(spec[key]) or spec[key] < 0):
        _fail(f"{key!r} must be a non-negative integer, got {spec[key]!r}")


def _check_positive(spec: Mapping[str, Any], key: str, allow_zero: bool = False) -> None:
    v = spec[key]
    if not is_num(v):
        _fail(f"{key!r} must be a finite number, got {v!r}")
    if v < 0 or (v == 0 and not allow_zero):
        _fail(f"{key!r} must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")


def _exactly_one(spec: Mapping[str, Any], keys: tuple[str, ...], kind: str) -> str:
    given = [k for k in keys if k in spec]
    if len(given) != 1:
        names = ", ".join(repr(k) for k in keys)
        _fail(f"{kind} needs exactly one of {names}, got {len(given)}")
    return given[0]


def validate_intervention(spec: Mapping[str, Any], p: int) -> None:
    """Check an intervention mapping for modulus p; raise ConfigError with one line if invalid.

    An empty mapping (no intervention) is valid.
    """
    if not isinstance(spec, Mapping):
        _fail(f"must be a mapping with a 'kind' key, got {spec!r}")
    if not spec:
        return
    kind = spec.get("kind")
    if kind not in KINDS:
        _fail(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
    unknown = sorted(str(k) for k in set(spec) - _KEYS[kind])
    if unknown:
        _fail(f"unknown key {unknown[0]!r} for kind {kind!r} "
              f"(allowed: {', '.join(sorted(_KEYS[kind] - {'kind'}))})")
    {"scale": _validate_scale, "restrict": _validate_restrict,
     "construct": _validate_construct}[kind](spec, p)


def _validate_scale(spec: Mapping[str, Any], p: int) -> None:
    for key in ("k", "alpha"):
        if key not in spec:
            _fail(f"scale needs {key!r}")
    _check_freq(spec["k"], p, "'k'")
    _check_positive(spec, "alpha")


def _validate_restrict(spec: Mapping[str, Any], p: int) -> None:
    mode = _exactly_one(spec, ("keep", "strongest", "random"), "restrict")
    if mode == "keep":
        keep = spec["keep"]
        if not isinstance(keep, list | tuple):
            _fail(f"'keep' must be a list of frequencies, got {keep!r}")
        ks = [_check_freq(k, p, "frequency in 'keep'") for k in keep]
        if len(set(ks)) != len(ks):
            _fail(f"'keep' lists a frequency twice: {list(keep)!r}")
    else:
        _check_count(spec, mode, p)
    for key in ("seed", "exclude_strongest"):
        if key in spec and mode != "random":
            _fail(f"{key!r} only applies to 'random'")
    _check_seed(spec, "seed")
    if "exclude_strongest" in spec:
        m = spec["exclude_strongest"]
        if not is_int(m) or m < 0:
            _fail(f"'exclude_strongest' must be an integer >= 0, got {m!r}")
        if m + spec["random"] > fourier.n_freq(p):
            _fail(f"cannot draw {spec['random']} random circles outside the {m} strongest: "
                  f"p={p} has only {fourier.n_freq(p)}")
    if "keep_constant" in spec and not isinstance(spec["keep_constant"], bool):
        _fail(f"'keep_constant' must be true or false, got {spec['keep_constant']!r}")


def _validate_construct(spec: Mapping[str, Any], p: int) -> None:
    mode = _exactly_one(spec, ("circles", "ratio"), "construct")
    if mode == "circles":
        for key in ("signal", "pair", "pair_seed"):
            if key in spec:
                _fail(f"{key!r} only applies with 'ratio', not with 'circles'")
        circ = spec["circles"]
        if not isinstance(circ, Mapping) or not circ:
            _fail(f"'circles' must be a non-empty mapping of frequency to signal, got {circ!r}")
        ks = [_check_freq(k, p, "frequency in 'circles'") for k in circ]
        if len(set(ks)) != len(ks):
            _fail("'circles' lists a frequency twice")
        for k, s in circ.items():
            if not is_num(s) or s <= 0:
                _fail(f"signal of circle {k} must be a finite number > 0, got {s!r}")
    else:
        _check_positive(spec, "ratio")
        if "signal" in spec:
            _check_positive(spec, "signal")
        if fourier.n_freq(p) < 2:
            _fail(f"'ratio' needs two circles but p={p} has only {fourier.n_freq(p)}")
        pair_key = _exactly_one(spec, ("pair", "pair_seed"), "construct with 'ratio'")
        if pair_key == "pair":
            pair = spec["pair"]
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                _fail(f"'pair' must be a list of two frequencies, got {pair!r}")
            ks = [_check_freq(k, p, "frequency in 'pair'") for k in pair]
            if ks[0] == ks[1]:
                _fail(f"'pair' needs two different frequencies, got {list(pair)!r}")
        _check_seed(spec, "pair_seed")
    if "floor" in spec:
        _check_positive(spec, "floor", allow_zero=True)
    _check_seed(spec, "direction_seed")


# -- application ------------------------------------------------------------------------------


def apply_intervention(embedding: torch.Tensor, spec: Mapping[str, Any], seed: int
                       ) -> tuple[torch.Tensor, dict]:
    """Return the edited embedding (p, d) and a dict recording what was done (resolved).

    Args:
        embedding: the drawn initial embedding, (p, d), float64; p is its number of rows.
        spec: the intervention (``RunConfig.intervention``); empty for none.
        seed: the default seed of random choices and directions (the run's
            ``embedding_seed``).

    The result is float64 on the same device. With no intervention both are returned
    unchanged ({} for the record).
    """
    spec = dict(spec)
    if not spec:
        return embedding, {}
    p = int(embedding.shape[0])
    validate_intervention(spec, p)
    e = embedding.detach().to("cpu", torch.float64).numpy()
    edit = {"scale": _scale, "restrict": _restrict, "construct": _construct}[spec["kind"]]
    out, resolved = edit(e, spec, seed)
    tensor = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float64))
    return tensor.to(embedding.device), resolved


def _scale(e: np.ndarray, spec: Mapping[str, Any], seed: int) -> tuple[np.ndarray, dict]:
    k, alpha = int(spec["k"]), float(spec["alpha"])
    out = fourier.scale_frequency(e, k, alpha)
    before = float(fourier.signal(e, half=True)[k])
    return out, {"kind": "scale", "k": k, "alpha": alpha, "signal_before": before,
                 "signal_after": alpha * before}


def _strongest(sig: np.ndarray, p: int, n: int) -> list[int]:
    """The n circle frequencies k = 1 .. (p-1)//2 with the largest signals ``sig[k]``,
    strongest first (ties in order of k)."""
    ks = np.arange(1, fourier.n_freq(p) + 1)
    return [int(k) for k in ks[np.argsort(-sig[ks], kind="stable")[:n]]]


def _restrict(e: np.ndarray, spec: Mapping[str, Any], seed: int) -> tuple[np.ndarray, dict]:
    p = e.shape[0]
    keep_constant = bool(spec.get("keep_constant", False))
    sig = fourier.signal(e, half=True)
    resolved: dict[str, Any] = {"kind": "restrict", "keep_constant": keep_constant}
    if "keep" in spec:
        keep = [int(k) for k in spec["keep"]]
    elif "strongest" in spec:
        n = int(spec["strongest"])
        keep = _strongest(sig, p, n)
        resolved["strongest"] = n
    else:
        n = int(spec["random"])
        seed = int(spec.get("seed", seed))
        rng = np.random.default_rng(seed)
        ks = np.arange(1, fourier.n_freq(p) + 1)
        m = int(spec.get("exclude_strongest", 0))
        if m:
            resolved["excluded"] = _strongest(sig, p, m)
            ks = np.setdiff1d(ks, resolved["excluded"])
        keep = [int(k) for k in rng.choice(ks, size=n, replace=False)]
        resolved.update(random=n, seed=seed)
    resolved["keep"] = keep
    resolved["initial_signals"] = {str(k): float(sig[k]) for k in keep}
    return fourier.restrict(e, keep, keep_constant=keep_constant), resolved


def _construct(e: np.ndarray, spec: Mapping[str, Any], seed: int) -> tuple[np.ndarray, dict]:
    p, d = e.shape
    floor = float(spec.get("floor", DEFAULT_FLOOR))
    direction_seed = int(spec.get("direction_seed", seed))
    resolved: dict[str, Any] = {"kind": "construct"}
    if "circles" in spec:
        circ = {int(k): float(s) for k, s in spec["circles"].items()}
    else:
        ratio, signal = float(spec["ratio"]), float(spec.get("signal", DEFAULT_SIGNAL))
        if "pair" in spec:
            pair = [int(k) for k in spec["pair"]]
        else:
            rng = np.random.default_rng(int(spec["pair_seed"]))
            pair = [int(k) + 1 for k in rng.choice(fourier.n_freq(p), size=2, replace=False)]
            resolved["pair_seed"] = int(spec["pair_seed"])
        circ = {pair[0]: signal, pair[1]: ratio * signal}
        resolved.update(ratio=ratio, signal=signal, pair=pair)
    out = fourier.construct(p, d, circ, floor_signal=floor, rng=direction_seed)
    resolved.update(circles={str(k): s for k, s in circ.items()}, floor=floor,
                    direction_seed=direction_seed)
    return out, resolved
