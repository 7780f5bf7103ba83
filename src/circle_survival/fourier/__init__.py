"""Fourier analysis of embeddings: spectrum, signals, circles, Δ, circularity, projections,
and edits in Fourier space (restrict, scale, construct).

FFT convention: the spectrum is the unnormalised DFT along the token axis,
F[k, j] = sum_t E[t, j] exp(-2 pi i k t / p), exactly ``numpy.fft.fft(E, axis=-2)``; its
inverse carries the 1/p (``numpy.fft.ifft``). The signal of frequency k is S_k = ||F[k, :]||_2;
for real E, S_k = S_{p-k}, so an N(0, 1) embedding has S_k ≈ sqrt(p d).

Every function takes arrays with any number of leading axes (runs, steps, ...): an embedding
has shape (..., p, d) and a signal vector shape (..., K) where K = p (all frequencies) or
p//2 + 1 (k = 0 .. p//2, the half spectrum that training records). Embeddings are real.

Frequencies and even p. The circles are the frequencies k = 1 .. (p-1)//2: each pairs with
p - k and places the tokens on an ellipse. k = 0 (the constant term) is not a circle. For even
p the Nyquist frequency k = p/2 pairs with itself and is real: the tokens alternate between two
points, so it is not a circle either. Per-frequency outputs over the half spectrum have shape
(..., p//2 + 1) and are indexed by k (so they include k = 0 and, for even p, k = p/2).
"""

from .circle_rules import (
    AUTHORS_RULE,
    RULE_KINDS,
    CircleRule,
    circle_rule,
    circles_above,
    survival,
)
from .edits import construct, keep_mask, random_directions, restrict, scale_frequency
from .paper_circles import circles, n_circles
from .spectrum import (
    circularity,
    delta,
    deltas,
    fft_plane,
    full_signal,
    half_signal,
    n_freq,
    pca_planes,
    signal,
    signal_torch,
    spectrum,
)

__all__ = [
    "AUTHORS_RULE", "RULE_KINDS", "CircleRule", "circle_rule", "circles", "circles_above",
    "circularity", "construct", "delta", "deltas", "fft_plane", "full_signal", "half_signal",
    "keep_mask", "n_circles", "n_freq", "pca_planes", "random_directions", "restrict",
    "scale_frequency", "signal", "signal_torch", "spectrum", "survival",
]
