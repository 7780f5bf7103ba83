"""Circle collaboration: the loss of a model whose embedding keeps only some circles
(experiment 10 of the paper).

At every parameter snapshot of one run, the embedding is restricted to a set of frequencies
(zero F[k] and F[p-k] for every k outside the set, inverse DFT, real part; the constant term
k = 0 is kept by default) and the snapshot's own MLP is run on all p*p pairs. The mean
cross-entropy is recorded for three families of sets:

- "single": {k} for k = 1 .. (p-1)//2;
- "strongest+k": {c1, k} for every k != c1, c1 the strongest frequency by final signal;
- "pair+k": {c1, c3, k} for every k not in {c1, c3}, c3 the third-strongest (the authors'
  choice; ``pair_rank`` picks another, 2 for the second-strongest).

Snapshots: either a mapping step -> state dict, names "embedding" (p, d),
"layers.{l}.weight" (out, in), "layers.{l}.bias" (out,) (``nn.Module`` layout), each array
optionally with a leading model axis M (as the trainer writes them; ``run`` picks the model);
or a pair (steps (T,), state dict of stacked arrays (T, ...) or (T, M, ...)).

All restricted embeddings of all snapshots go through :func:`circle_survival.ensemble.forward`
together: the model axis is (snapshot x variant), chunked only to bound memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..fourier import CircleRule, circle_rule, keep_mask, signal
from ..training import ensemble

MODES = ("single", "strongest+k", "pair+k")

#: Default memory budget of one forward chunk (activations and logits), bytes.
DEFAULT_CHUNK_BYTES = 256 * 2**20

Snapshots = Mapping[int, Mapping[str, np.ndarray]] | tuple[np.ndarray, Mapping[str, np.ndarray]]


# -- snapshots -------------------------------------------------------------------------------
def stack_snapshots(snapshots: Snapshots, run: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One run's snapshots as (steps (T,) ascending, name -> stacked array (T, ...)).

    Accepts either input form described in the module docstring. Arrays stay in ``nn.Module``
    layout.
    """
    if isinstance(snapshots, tuple):
        steps, state = snapshots
        steps = np.asarray(steps, dtype=np.int64)
        out = {}
        for name, arr in state.items():
            a = np.asarray(arr)
            if _has_model_axis(name, a, stacked=True):
                a = a[:, run]
            out[name] = a
    else:
        steps = np.array(sorted(int(s) for s in snapshots), dtype=np.int64)
        if len(steps) == 0:
            raise ValueError("no snapshots given")
        names = list(snapshots[int(steps[0])].keys())
        out = {}
        for name in names:
            rows = []
            for s in steps:
                a = np.asarray(snapshots[int(s)][name])
                rows.append(a[run] if _has_model_axis(name, a, stacked=False) else a)
            out[name] = np.stack(rows)
    if "embedding" not in out:
        raise ValueError("snapshots must hold an 'embedding' array")
    if out["embedding"].shape[0] != len(steps):
        raise ValueError(f"{len(steps)} steps but {out['embedding'].shape[0]} snapshots")
    order = np.argsort(steps, kind="stable")
    return steps[order], {k: v[order] for k, v in out.items()}


def _has_model_axis(name: str, a: np.ndarray, stacked: bool) -> bool:
    """Whether an array carries a model axis M beyond its own (and the stacked T) axes."""
    own = 1 if name.endswith(".bias") else 2
    return a.ndim == own + 1 + int(stacked)


def _n_layers(state: Mapping[str, np.ndarray]) -> int:
    n = 0
    while f"layers.{n}.weight" in state:
        n += 1
    if n == 0:
        raise ValueError("snapshots must hold 'layers.{l}.weight' arrays")
    return n


def _mlp_params(state: Mapping[str, np.ndarray], device: str) -> list[torch.Tensor]:
    """[W_0, b_0, ...] in the ensemble's (in, out) layout, with the snapshot axis leading."""
    out = []
    for layer in range(_n_layers(state)):
        w = torch.as_tensor(state[f"layers.{layer}.weight"], device=device)
        out.append(w.transpose(1, 2).contiguous())
        out.append(torch.as_tensor(state[f"layers.{layer}.bias"], device=device))
    return out


# -- restricted losses ---------------------------------------------------------------------
@dataclass
class LossGrid:
    """Losses of V restricted variants at T snapshots.

    steps: (T,); loss, accuracy: (T, V), mean cross-entropy and accuracy on all p*p pairs.
    """

    steps: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray


def keep_masks(
    keep_sets: Sequence[Iterable[int]], p: int, keep_constant: bool = True
) -> np.ndarray:
    """Frequency masks (V, p) over k = 0 .. p-1 for V sets of kept frequencies.

    A kept k (given as k or p - k) keeps both F[k] and F[p-k]; k = 0 follows
    ``keep_constant``. For even p the self-conjugate k = p/2 is kept only when listed.
    The half-spectrum mask is :func:`circle_survival.fourier.keep_mask` (the convention of
    ``fourier.restrict``), spread over k and p - k; the restriction itself runs in torch on
    the analysis device, batched over snapshots and variants (:func:`restricted_losses`).
    """
    ks = np.arange(p)
    folded = np.minimum(ks, p - ks)
    masks = np.zeros((len(keep_sets), p), dtype=bool)
    for v, kept in enumerate(keep_sets):
        half = keep_mask(sorted({int(min(k % p, p - k % p)) for k in kept} - {0}), p)
        masks[v] = half[folded]
        masks[v, 0] = keep_constant
    return masks


def _chunk_models(p: int, d: int, widths: Sequence[int], itemsize: int, max_bytes: int) -> int:
    per_model = p * p * (2 * sum(widths) + 2 * p) * itemsize + 2 * p * d * 16
    return max(1, int(max_bytes // per_model))


def _evaluate_chunked(
    make_params, n_models: int, p: int, act: str, chunk: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy (n_models,) on all p*p pairs; ``make_params(lo, hi)`` builds a chunk."""
    loss = np.empty(n_models)
    acc = np.empty(n_models)
    all_pairs = torch.arange(p * p, device=device)
    pairs_cache: dict[int, ensemble.Pairs] = {}
    for lo in range(0, n_models, chunk):
        hi = min(lo + chunk, n_models)
        m = hi - lo
        if m not in pairs_cache:
            pairs_cache[m] = ensemble.Pairs.from_indices(all_pairs.expand(m, -1), p)
        with torch.no_grad():
            logits = ensemble.forward(make_params(lo, hi), pairs_cache[m], act)
            y = pairs_cache[m].y
            lse = torch.logsumexp(logits, dim=2)
            loss[lo:hi] = (lse - logits.gather(2, y[:, :, None])[..., 0]).mean(1).cpu().numpy()
            acc[lo:hi] = (logits.argmax(2) == y).to(logits.dtype).mean(1).cpu().numpy()
    return loss, acc


def restricted_losses(
    snapshots: Snapshots,
    keep_sets: Sequence[Iterable[int]],
    act: str = "silu",
    *,
    run: int = 0,
    keep_constant: bool = True,
    device: str = "cpu",
    chunk_size: int | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> LossGrid:
    """Loss on all p*p pairs of every snapshot with its embedding restricted to each set.

    Args:
        snapshots: one run's parameter snapshots (see the module docstring).
        keep_sets: V sets of frequencies to keep (k in 1 .. p//2).
        act: the MLP's activation.
        run: which model of the snapshots' model axis, when they have one.
        keep_constant: keep the constant term F[0].
        device: torch device for the forward passes.
        chunk_size: models (snapshot x variant pairs) per forward call; default from
            ``max_chunk_bytes``.

    Returns:
        LossGrid with loss and accuracy (T, V).
    """
    steps, state = stack_snapshots(snapshots, run)
    emb = torch.as_tensor(state["embedding"], device=device)  # (T, p, d)
    n_snap, p, d = emb.shape
    mlp = _mlp_params(state, device)
    masks = torch.as_tensor(keep_masks(keep_sets, p, keep_constant), device=device).to(emb.dtype)
    n_var = masks.shape[0]
    spectrum = torch.fft.fft(emb, dim=1)  # (T, p, d) complex
    widths = [w.shape[2] for w in mlp[0::2]]
    chunk = chunk_size or _chunk_models(p, d, widths, emb.element_size(), max_chunk_bytes)

    def make_params(lo: int, hi: int) -> list[torch.Tensor]:
        flat = torch.arange(lo, hi, device=device)
        t_idx, v_idx = flat // n_var, flat % n_var
        kept = spectrum[t_idx] * masks[v_idx][:, :, None]
        e = torch.fft.ifft(kept, dim=1).real.to(emb.dtype).contiguous()
        return [e] + [t.index_select(0, t_idx) for t in mlp]

    loss, acc = _evaluate_chunked(make_params, n_snap * n_var, p, act, chunk, device)
    return LossGrid(steps, loss.reshape(n_snap, n_var), acc.reshape(n_snap, n_var))


def full_loss(
    snapshots: Snapshots,
    act: str = "silu",
    *,
    run: int = 0,
    device: str = "cpu",
    chunk_size: int | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> pd.DataFrame:
    """The model's own loss on all p*p pairs at every snapshot (nothing removed).

    Returns:
        DataFrame with columns step, loss, accuracy (one row per snapshot, ascending).
    """
    steps, state = stack_snapshots(snapshots, run)
    emb = torch.as_tensor(state["embedding"], device=device)
    n_snap, p, d = emb.shape
    mlp = _mlp_params(state, device)
    widths = [w.shape[2] for w in mlp[0::2]]
    chunk = chunk_size or _chunk_models(p, d, widths, emb.element_size(), max_chunk_bytes)
    params = [emb] + mlp
    loss, acc = _evaluate_chunked(
        lambda lo, hi: [t[lo:hi] for t in params], n_snap, p, act, chunk, device
    )
    return pd.DataFrame({"step": steps, "loss": loss, "accuracy": acc})


# -- the collaboration experiment ----------------------------------------------------------
@dataclass
class CollaborationResult:
    """The collaboration losses of one run.

    losses: DataFrame with columns mode, k, step, loss, accuracy, survived (mode in
        :data:`MODES`; k the frequency added to the base set; survived by the 2x-mean rule
        of the final signal).
    survivors: circles of the final signal (by the circle rule), strongest first.
    strongest: the base circles [c1, c3]: the strongest frequency by final signal and the
        one of rank ``pair_rank`` (the base sets are [strongest[0]] and strongest).
    steps: (T,) the snapshot steps.
    """

    losses: pd.DataFrame
    survivors: list[int]
    strongest: list[int]
    steps: np.ndarray


def collaboration_variants(p: int, strongest: Sequence[int]) -> list[tuple[str, int, list[int]]]:
    """(mode, k, kept frequencies) for every variant of the three families."""
    ks = range(1, (p - 1) // 2 + 1)
    k1, k2 = int(strongest[0]), int(strongest[1])
    out = [("single", k, [k]) for k in ks]
    out += [("strongest+k", k, [k1, k]) for k in ks if k != k1]
    out += [("pair+k", k, [k1, k2, k]) for k in ks if k not in (k1, k2)]
    return out


def collaboration_losses(
    snapshots: Snapshots,
    act: str = "silu",
    *,
    run: int = 0,
    final_signal: np.ndarray | None = None,
    device: str = "cpu",
    chunk_size: int | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    pair_rank: int = 3,
    rule: CircleRule | str = "2x-mean",
    start_signal: np.ndarray | None = None,
) -> CollaborationResult:
    """Losses of single circles, {strongest, k} and {two strongest, k} at every snapshot.

    Args:
        snapshots: one run's parameter snapshots (see the module docstring).
        act: the MLP's activation.
        run: which model of the snapshots' model axis, when they have one.
        final_signal: (p//2 + 1,) or (p,) signal vector that ranks the frequencies and decides
            survival; default the signal of the last snapshot's embedding.
        device, chunk_size, max_chunk_bytes: see :func:`restricted_losses`.
        pair_rank: the rank (1 = strongest) by final signal of the second circle of the pair
            base set: 3, the authors' third-strongest.
        rule: the circle rule naming the survivors; start_signal: the signals at step 0
            (only "start:F" reads them).

    Returns:
        CollaborationResult. The constant term is kept in every restriction.
    """
    steps, state = stack_snapshots(snapshots, run)
    p = state["embedding"].shape[1]
    if (p - 1) // 2 < 3:
        raise ValueError(f"the collaboration analysis needs at least 3 circles, p={p} has fewer")
    if final_signal is None:
        final_signal = signal(state["embedding"][-1], half=True)
    final_signal = np.asarray(final_signal, dtype=float)
    start = None if start_signal is None else np.asarray(start_signal, dtype=float)
    survivors = [int(k) for k in circle_rule(rule).circles(final_signal, p, start)
                 if 1 <= k <= (p - 1) // 2]
    ks = np.arange(1, (p - 1) // 2 + 1)
    if not 2 <= pair_rank <= len(ks):
        raise ValueError(f"pair_rank must be in 2 .. {len(ks)}, got {pair_rank}")
    order = ks[np.argsort(-final_signal[ks], kind="stable")]
    strongest = [int(order[0]), int(order[pair_rank - 1])]
    variants = collaboration_variants(p, strongest)
    grid = restricted_losses(
        (steps, state), [kept for _, _, kept in variants], act, device=device,
        chunk_size=chunk_size, max_chunk_bytes=max_chunk_bytes,
    )
    n_var = len(variants)
    table = pd.DataFrame({
        "mode": np.tile([m for m, _, _ in variants], len(steps)),
        "k": np.tile([k for _, k, _ in variants], len(steps)),
        "step": np.repeat(steps, n_var),
        "loss": grid.loss.ravel(),
        "accuracy": grid.accuracy.ravel(),
    })
    table["survived"] = table["k"].isin(survivors)
    table = table.sort_values(["mode", "k", "step"], kind="stable", key=_mode_order)
    return CollaborationResult(table.reset_index(drop=True), survivors, strongest, steps)


def _mode_order(col: pd.Series) -> pd.Series:
    return col.map(MODES.index) if col.name == "mode" else col
