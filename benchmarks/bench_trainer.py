"""Benchmark: ms per model-step of the batched trainer against a typical research-code loop.

Prints, for float64 and float32 and M models per batch, the median ms per model-step of
(a) circle_survival's Trainer (recording signals every step and metrics every 10 steps, as in
a real run) and (b) a baseline written the way research code usually is: one ``nn.Module``
per model, the concatenated input [E[a], E[b]], autograd, ``torch.optim.AdamW``, a test
forward pass and ``.item()`` calls every step. Both are measured in alternating rounds in one
process so that the ratio is side by side. It also measures this machine's matmul peak
(a large square matmul) and reports the fraction of it the trainer reaches, counting only the
useful work of a step (see :func:`useful_flops`), and the ceiling: the speed-up over the
baseline that the useful work alone would give at 100% of that peak.

It first times the step itself side by side with the earlier step kept in
``benchmarks/reference_step.py`` (alternating rounds in one process; metrics every 10th step as
in a run), and, with ``--workers``, two worker processes of one thread each against one
process of two threads on the same models (aggregate model-steps per second).

    python benchmarks/bench_trainer.py                 # CPU, M = 1, 8, 64, both dtypes
    python benchmarks/bench_trainer.py --step-only --models 1,8   # the step against the earlier
    python benchmarks/bench_trainer.py --step-only --workers --models 8
    python benchmarks/bench_trainer.py --step-only --kinds serial,compiled --models 8
    python benchmarks/bench_trainer.py --step-only --kinds matmuls   # the matmuls' floor
    python benchmarks/bench_trainer.py --device cuda   # on a GPU
    python benchmarks/bench_trainer.py --models 1,8 --dtypes float64 --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from circle_survival import RunConfig
from circle_survival.training.ensemble import padded_width
from circle_survival.training.trainer import MemorySink, Trainer

sys.path.insert(0, str(Path(__file__).parent))
from reference_step import ReferenceStep  # noqa: E402


def useful_flops(cfg: RunConfig) -> float:
    """FLOPs of one model-step: forward + backward (3x forward) over the training pairs, with
    the first layer as two (p x d) @ (d x h) products."""
    widths = [*cfg.hidden, cfg.p]
    first = 2 * 2 * cfg.p * cfg.d * cfg.hidden[0]
    rest = sum(2 * cfg.n_train * i * o for i, o in zip(widths[:-1], widths[1:], strict=True))
    return 3.0 * (first + rest)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(dtype: torch.dtype, device: str, n: int = 3072, reps: int = 5) -> float:
    """Median GFLOP/s of an n x n matmul."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


class BaselineModel(nn.Module):
    """One model as research code writes it."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(cfg.p, cfg.d))
        widths = [2 * cfg.d, *cfg.hidden, cfg.p]
        layers: list[nn.Module] = []
        for j, (i, o) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(i, o))
            if j < len(widths) - 2:
                layers.append(nn.SiLU())
        self.mlp = nn.Sequential(*layers)

    def forward(self, a, b):
        return self.mlp(torch.cat([self.embedding[a], self.embedding[b]], dim=1))


def baseline_ms(cfg: RunConfig, m: int, steps: int, device: str) -> float:
    """ms per model-step of the baseline loop over m models (one after another each step)."""
    torch.set_default_dtype(getattr(torch, cfg.dtype))
    try:
        models = [BaselineModel(cfg).to(device) for _ in range(m)]
    finally:
        torch.set_default_dtype(torch.float32)
    opts = [torch.optim.AdamW(mod.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            for mod in models]
    idx = torch.randperm(cfg.p * cfg.p, device=device)
    tr, te = idx[: cfg.n_train], idx[cfg.n_train:]
    a, b = idx % cfg.p, idx // cfg.p
    y = (a + b) % cfg.p
    log = []

    def one_step():
        for mod, opt in zip(models, opts, strict=True):
            logits = mod(a[tr], b[tr])
            loss = nn.functional.cross_entropy(logits, y[tr])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                test_loss = nn.functional.cross_entropy(mod(a[te], b[te]), y[te])
            log.append((loss.item(), test_loss.item()))

    return step_ms(one_step, contextlib.nullcontext(), m, steps, device)


def trainer_ms(cfg: RunConfig, m: int, steps: int) -> float:
    """ms per model-step of the batched trainer (a full run of ``steps`` steps, recording)."""
    configs = [cfg.replace(steps=steps, embedding_seed=i, mlp_seed=i, split_seed=i)
               for i in range(m)]
    trainer = Trainer(configs)
    sink = MemorySink(configs)
    trainer.step()  # warm-up outside the timed run
    t = time.perf_counter()
    trainer.run(sink)
    sync(trainer.device)
    return (time.perf_counter() - t) * 1e3 / (steps * m)


#: the trainer's options for each kind of step (:func:`stepper`)
STEP_KINDS = {"fused": {}, "serial": {"chunk_threads": 1},
              "compiled": {"compile_step": True}}


def matmuls_only(trainer: Trainer) -> Callable[[], None]:
    """A step of ``trainer`` that runs only its batched matmuls: the same products, shapes
    and chunks, on the same threads, over random operands. Its time is a floor for every
    step that keeps these products (elementwise passes, gathers, sums and AdamW removed)."""
    cfg, dtype, dev = trainer.cfg, trainer.dtype, trainer.device
    p, d, n = cfg.p, cfg.d, cfg.n_train
    widths = [*cfg.hidden, padded_width(cfg.p)]

    def operands(k: int) -> dict[str, Any]:
        r = lambda *shape: torch.randn(k, *shape, dtype=dtype, device=dev)  # noqa: E731
        return {"e": r(p, d), "w0": r(2 * d, widths[0]), "table": r(p, widths[0]),
                "layers": [(r(n, i), r(i, o), r(1, o), r(n, o))
                           for i, o in zip(widths[:-1], widths[1:], strict=True)]}

    chunks = [operands(hi - lo) for lo, hi in trainer.chunks]

    def chunk_matmuls(i: int) -> None:
        t = chunks[i]
        e, w0, table = t["e"], t["w0"], t["table"]
        torch.baddbmm(table[:, :1], e, w0[:, :d])  # the first layer's two tables
        torch.bmm(e, w0[:, d:])
        for x, w, b, _ in t["layers"]:  # forward
            torch.baddbmm(b, x, w)
        for x, w, _, g in reversed(t["layers"]):  # backward: weight gradient, input gradient
            torch.bmm(x.transpose(1, 2), g)
            torch.bmm(g, w.transpose(1, 2))
        et = e.transpose(1, 2)  # the first layer's weight and embedding gradients
        torch.bmm(et, table)
        torch.bmm(et, table)
        torch.bmm(table, w0[:, :d].transpose(1, 2)).baddbmm_(table, w0[:, d:].transpose(1, 2))

    return lambda: trainer.threads.map(chunk_matmuls, len(chunks))


def stepper(kind: str, cfg: RunConfig, m: int) -> tuple[Callable[[], None], Any]:
    """One bare step of the trainer's step ("fused": the default, chunks on one thread per
    core; "serial": chunks in order, intra-op threads; "compiled": ``compile_step``;
    "matmuls": its matmuls alone, :func:`matmuls_only`) or of the earlier step ("earlier"),
    for m models, warmed up (compiled) already, and the context its steps run in (the
    trainer's chunk threads, entered as :meth:`Trainer.run` enters them); the trainer's
    steps take train metrics every 10th step, as a run does."""
    configs = [cfg.replace(embedding_seed=i, mlp_seed=i, split_seed=i) for i in range(m)]
    if kind == "earlier":
        one, context = ReferenceStep(configs).step, contextlib.nullcontext()
    elif kind == "matmuls":
        trainer = Trainer(configs)
        one, context = matmuls_only(trainer), trainer.threads
    else:
        trainer = Trainer(configs, **STEP_KINDS[kind])
        met = torch.empty(m, 2, dtype=trainer.dtype, device=trainer.device)
        count = [0]
        context = trainer.threads

        def one():
            trainer.step(None, met if count[0] % 10 == 0 else None)
            count[0] += 1
    with context:
        for _ in range(11 if kind == "compiled" else 3):  # both variants compiled, then warm
            one()
    return one, context


def step_ms(one: Callable[[], None], context: Any, m: int, steps: int, device: str) -> float:
    """ms per model-step of ``steps`` calls of ``one`` in ``context`` (a :func:`stepper`),
    after one untimed step there."""
    with context:
        one()
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            one()
        sync(device)
        return (time.perf_counter() - t) * 1e3 / (steps * m)


def compare_steps(args) -> None:
    """The trainer's step (and its variants in ``args.kinds``) against the earlier one,
    alternating rounds, medians; speed-up = median of the per-round ratios."""
    kinds = ["fused"] + [k for k in args.kinds.split(",") if k and k != "fused"]
    head = "".join(f"{k + ' ms':>13}" for k in kinds)
    ups = "".join(f"{k + ' x':>11}" for k in kinds)
    print(f"{'dtype':8} {'M':>4}{head} {'earlier ms':>11}{ups}   (ms per model-step; medians; "
          "x = median of per-round ratios earlier / kind)")
    for dt in args.dtypes.split(","):
        cfg = RunConfig(dtype=dt, device=args.device)
        for m in (int(x) for x in args.models.split(",")):
            # each kind's stepper lives through every round (as a trainer lives through a
            # run: its threads and their memory are warm), the rounds alternate the kinds
            steppers = {k: stepper(k, cfg, m) for k in kinds + ["earlier"]}
            times = {k: [] for k in steppers}
            for _ in range(args.rounds):
                for k, (one, context) in steppers.items():
                    times[k].append(step_ms(one, context, m, args.steps, args.device))
            med = "".join(f"{statistics.median(times[k]):>13.2f}" for k in kinds)
            old = times["earlier"]
            ratio = "".join(
                f"{statistics.median(o / n for o, n in zip(old, times[k], strict=True)):>10.2f}x"
                for k in kinds)
            print(f"{dt:8} {m:>4}{med} {statistics.median(times['earlier']):>11.2f}{ratio}",
                  flush=True)


def _worker(args: tuple[str, int, int, int, multiprocessing.Barrier]) -> float:
    dtype, m, steps, threads, barrier = args
    torch.set_num_threads(threads)
    cfg = RunConfig(dtype=dtype)
    configs = [cfg.replace(embedding_seed=i, mlp_seed=i, split_seed=i) for i in range(m)]
    trainer = Trainer(configs)
    with trainer.threads:  # as a run steps: the chunk threads where there are two threads
        trainer.step()
        barrier.wait()
        t = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        return time.perf_counter() - t


def compare_workers(args) -> None:
    """Two processes of one thread each (m/2 models each) against one process of two
    threads (m models, its chunks on the chunk threads as in a run): model-steps per second
    of the pair, alternating rounds."""
    ctx = multiprocessing.get_context("spawn")
    print("workers: model-steps per second, 2 processes x 1 thread vs 1 process x 2 threads")
    for dt in args.dtypes.split(","):
        for m in (int(x) for x in args.models.split(",")):
            half = max(1, m // 2)
            two, one = [], []
            for _ in range(args.rounds):
                barrier = ctx.Manager().Barrier(2)
                with ctx.Pool(2) as pool:
                    secs = pool.map(_worker, [(dt, half, args.steps, 1, barrier)] * 2)
                two.append(2 * half * args.steps / max(secs))
                barrier = ctx.Manager().Barrier(1)
                with ctx.Pool(1) as pool:
                    secs = pool.map(_worker, [(dt, 2 * half, args.steps, 2, barrier)])
                one.append(2 * half * args.steps / secs[0])
            ratio = statistics.median(a / b for a, b in zip(two, one, strict=True))
            print(f"{dt:8} {2 * half:>4} 2x1: {statistics.median(two):7.1f}/s   "
                  f"1x2: {statistics.median(one):7.1f}/s   ratio {ratio:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="1,8,64")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    ap.add_argument("--baseline-models", type=int, default=2,
                    help="models in the baseline loop (its cost per model-step does not "
                         "depend on M)")
    ap.add_argument("--step-only", action="store_true",
                    help="only the step against the earlier step (and --workers)")
    ap.add_argument("--kinds", default="",
                    help="more variants of the step to time: serial (chunks in order on the "
                         "intra-op threads), compiled (compile_step), matmuls (the step's "
                         "matmuls alone: earlier / matmuls is the most any step keeping "
                         "them could gain)")
    ap.add_argument("--workers", action="store_true",
                    help="also 2 processes x 1 thread against 1 process x 2 threads")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    compare_steps(args)
    if args.workers:
        compare_workers(args)
    if args.step_only:
        return
    print(f"{'dtype':8} {'M':>4} {'trainer ms':>11} {'baseline ms':>12} {'speed-up':>9} "
          f"{'GFLOP/s':>8} {'peak':>7} {'of peak':>8} {'ceiling':>8}")
    for dt in args.dtypes.split(","):
        cfg = RunConfig(dtype=dt, device=args.device)
        peak = matmul_peak(getattr(torch, dt), args.device)
        flops = useful_flops(cfg)
        for m in (int(x) for x in args.models.split(",")):
            ours, base = [], []
            for _ in range(args.rounds):
                ours.append(trainer_ms(cfg, m, args.steps))
                base.append(baseline_ms(cfg, min(m, args.baseline_models),
                                        max(3, args.steps // 3), args.device))
            o, b = statistics.median(ours), statistics.median(base)
            gflops = flops / (o * 1e-3) / 1e9
            ceiling = b / (flops / (peak * 1e9) * 1e3)
            print(f"{dt:8} {m:>4} {o:>11.2f} {b:>12.2f} {b / o:>8.1f}x {gflops:>8.1f} "
                  f"{peak:>7.1f} {gflops / peak:>7.0%} {ceiling:>7.1f}x", flush=True)
    print(f"useful work per model-step: {flops / 1e9:.3f} GFLOP "
          "(peak: median of a 3072^3 matmul in the same dtype)")
    print("ceiling: the speed-up over the baseline that a trainer doing only the useful work "
          "at 100% of the matmul peak would reach")


if __name__ == "__main__":
    main()
