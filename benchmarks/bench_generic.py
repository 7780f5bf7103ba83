"""Benchmark: ms per model-step of the generic torch.func trainer beside the fused trainer and
a loop of single models, side by side in one process.

For each M (models per batch) and each model, the median ms per model-step over alternating
rounds of:
    generic  :class:`circle_survival.training.functional.FuncTrainer` (vmap of grad)
    fused    :class:`circle_survival.training.trainer.Trainer` (the paper's MLP only)
    loop     M single ``nn.Module`` models one after another: autograd, ``torch.optim.AdamW``
Every kind takes full-batch AdamW steps from the same initial state, without records. The
paper's shapes by default: p = 59, d = 128, MLP 256 -> 100 -> 100 -> 59, float64; the
transformer row is the one-layer transformer at d = 128, 4 heads, d_mlp 512 (no fused path).

    python benchmarks/bench_generic.py                       # M = 1, 8, 64; MLP and transformer
    python benchmarks/bench_generic.py --models 1,8 --rounds 3 --steps 5 --kinds mlp
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from circle_survival import RunConfig
from circle_survival.training.functional import FuncTrainer
from circle_survival.training.modules import build
from circle_survival.training.trainer import Trainer
from circle_survival.variants import labels


def machine() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and its core count."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            name = next(line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} cores"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class Loop:
    """M single models trained one after another, as plain PyTorch."""

    def __init__(self, configs: list[RunConfig], device: str):
        self.items = []
        for cfg in configs:
            module, state = build(cfg)
            module = module.to(device=device, dtype=torch.float64 if cfg.dtype == "float64"
                                else torch.float32)
            idx = torch.as_tensor(state.train_idx, device=device)
            y = torch.as_tensor(labels(cfg.task, cfg.p, cfg.task_table), device=device)[idx]
            opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, betas=cfg.betas,
                                    eps=cfg.eps, weight_decay=cfg.weight_decay)
            self.items.append((module, opt, idx % cfg.p, idx // cfg.p, y))

    def step(self) -> None:
        for module, opt, a, b, y in self.items:
            opt.zero_grad()
            F.cross_entropy(module(a, b), y).backward()
            opt.step()


def measure(make, m: int, steps: int, device: str) -> float:
    """ms per model-step of ``steps`` steps of a freshly made trainer (after one warm-up)."""
    trainer = make()
    trainer.step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    sync(device)
    return (time.perf_counter() - t) * 1e3 / (steps * m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="1,8,64")
    ap.add_argument("--kinds", default="mlp,transformer")
    ap.add_argument("--steps", type=int, default=5, help="steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args()
    device = args.device
    print(f"# {time.strftime('%Y-%m-%d')}, {machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, {device}, {args.dtype}; median of {args.rounds} rounds "
          f"of {args.steps} steps")
    print(f"{'model':<12}{'M':>4}{'generic':>12}{'fused':>12}{'loop':>12}  ms per model-step")
    for kind in args.kinds.split(","):
        extra = {"model": "transformer"} if kind == "transformer" else {}
        for m in (int(x) for x in args.models.split(",")):
            configs = [RunConfig(device=device, dtype=args.dtype, embedding_seed=s,
                                 mlp_seed=s, split_seed=s, **extra) for s in range(m)]
            makers = {"generic": lambda c=configs: FuncTrainer(c),
                      "loop": lambda c=configs: Loop(c, device)}
            if kind == "mlp":
                makers["fused"] = lambda c=configs: Trainer(c)
            times: dict[str, list[float]] = {k: [] for k in makers}
            for _ in range(args.rounds):
                for name, make in makers.items():
                    times[name].append(measure(make, m, args.steps, device))
            cells = [f"{statistics.median(times[k]):12.2f}" if k in times else f"{'-':>12}"
                     for k in ("generic", "fused", "loop")]
            print(f"{kind:<12}{m:>4}{''.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
