"""One prepared check of the trainer on a GPU: correctness, determinism, speed, the store.

Writes ``device_check.json`` (rewritten after every section, so a timeout still leaves the
sections done) and ``device_check.log`` into ``$OUT`` (default ``./out``). Sections, in order
of priority, each time-boxed (a loop stops at its deadline and says so) and isolated (an
error is recorded with its traceback and the next section runs):

    env          torch, CUDA, the GPU, its memory, which optional packages import
    agreement    the device against the CPU: 4 models x 40 steps, paper config;
                 float64 within 1e-9 relative, float32 within 1e-3
    determinism  two runs of 64 models x 200 steps bit-identical; model 0 trained alone
                 against model 0 of the batch; the ops PyTorch flags as nondeterministic
    speed        ms per step and us per model-step for M = 1, 10, 100, 1000, 4000 in float64
                 and float32, with the peak memory per model against capacity.bytes_per_model
    store        train_to_store (the full run path with records and the store) at M = 1000,
                 300 steps; skipped, with the reason, where the store cannot be used
    projection   hours for the paper's ~750 M model-steps at the best float64 rate
    compile      (last, optional) torch.compile of the step against the eager step over
                 100 steps (4 models), and its speed at the largest M that fits the budget

    python benchmarks/device_check.py              # on a GPU: under 8 minutes on one H200
    python benchmarks/device_check.py --smoke      # every path on the CPU, tiny, seconds
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

try:  # recorded by the env section where the package cannot be imported
    from circle_survival import RunConfig
    from circle_survival.training.capacity import bytes_per_model, free_memory
    from circle_survival.training.trainer import Trainer
except Exception as _exc:  # noqa: BLE001
    IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
else:
    IMPORT_ERROR = None

#: the paper's experiments, in model-steps (see the README's reproduction section)
PAPER_MODEL_STEPS = 750e6


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def max_rel_err(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> float:
    return max(rel_err(x[k], y[k]) for k in y)


def bit_identical(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(x[k], y[k]) for k in y)


class Check:
    """The sections' results, the log and the deadline bookkeeping."""

    def __init__(self, out: Path, smoke: bool, device: str):
        self.out, self.smoke, self.device = out, smoke, device
        out.mkdir(parents=True, exist_ok=True)
        self.json_path = out / "device_check.json"
        self.log_file = open(out / "device_check.log", "w")  # noqa: SIM115
        self.results: dict = {"smoke": smoke, "device": device, "sections": {}}
        self.t0 = time.perf_counter()

    def log(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def save(self) -> None:
        tmp = self.json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, indent=2, default=str))
        tmp.replace(self.json_path)

    def section(self, name: str, budget_s: float, fn) -> None:
        """Run fn(deadline) -> dict; record it (or its error) and rewrite the JSON."""
        self.log(f"== {name} (budget {budget_s:.0f} s)")
        start = time.perf_counter()
        entry: dict = {"status": "running"}
        self.results["sections"][name] = entry
        self.save()
        try:
            entry.update(fn(start + budget_s))
            entry["status"] = entry.get("status_override", "ok")
            entry.pop("status_override", None)
        except Exception as exc:  # a failed section is recorded; the next one runs
            entry["status"] = "error"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc()
            self.log(entry["traceback"])
        entry["seconds"] = round(time.perf_counter() - start, 2)
        self.log(f"   {name}: {entry['status']} in {entry['seconds']} s: "
                 + json.dumps({k: v for k, v in entry.items()
                               if k not in ("traceback", "rows")}, default=str)[:800])
        self.save()

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


def base_config(check: Check, **kw) -> RunConfig:
    """The paper's model, or a tiny one in smoke mode."""
    if check.smoke:
        kw = {"p": 11, "d": 8, "hidden": (12, 12), **kw}
    return RunConfig(**kw)


def batch(cfg: RunConfig, m: int) -> list[RunConfig]:
    return [cfg.replace(embedding_seed=i, mlp_seed=1000 + i, split_seed=2000 + i)
            for i in range(m)]


def train_steps(configs: list[RunConfig], steps: int, deadline: float | None = None,
                **kw) -> tuple[dict[str, np.ndarray], int]:
    """State dict after ``steps`` bare steps (or fewer at the deadline) and the steps done."""
    trainer = Trainer(configs, **kw)
    done = 0
    for _ in range(steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        trainer.step()
        done += 1
    return trainer.state_dict(), done


# -- sections ------------------------------------------------------------------------------
def section_env(check: Check, deadline: float) -> dict:
    info: dict = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}",
                    gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    gpu_count=torch.cuda.device_count(), cudnn=torch.backends.cudnn.version())
    info["circle_survival_import"] = IMPORT_ERROR or "ok"
    if IMPORT_ERROR is None:
        info["free_memory_gib"] = round(free_memory(check.device) / 2**30, 2)
    for name in ("numpy", "pandas", "zarr", "numcodecs", "pyarrow", "safetensors", "sklearn",
                 "matplotlib", "typer", "tqdm", "circle_survival"):
        try:
            mod = importlib.import_module(name)
            info[f"have_{name}"] = getattr(mod, "__version__", "yes")
        except Exception as exc:
            info[f"have_{name}"] = f"no ({type(exc).__name__}: {exc})"[:200]
    return info


def section_agreement(check: Check, deadline: float) -> dict:
    """4 models x 40 steps on the device against the CPU (in smoke mode: the one-hot pair
    sums against index_add_, both on the CPU)."""
    steps = 10 if check.smoke else 40
    out: dict = {}
    ok = True
    for dtype, tol in (("float64", 1e-9), ("float32", 1e-3)):
        configs = batch(base_config(check, dtype=dtype, steps=steps), 4)
        cpu, _ = train_steps([c.replace(device="cpu") for c in configs], steps)
        if check.smoke:
            dev, _ = train_steps([c.replace(device="cpu") for c in configs], steps,
                                 onehot_sums=True)
        else:
            dev, _ = train_steps([c.replace(device=check.device) for c in configs], steps)
        err = max_rel_err(dev, cpu)
        out[dtype] = {"max_rel_err": err, "tolerance": tol, "pass": err <= tol}
        ok = ok and err <= tol
    out["pass"] = ok
    if not ok:
        out["status_override"] = "fail"
    return out


def section_determinism(check: Check, deadline: float) -> dict:
    m, steps = (8, 20) if check.smoke else (64, 200)
    configs = [c.replace(device=check.device)
               for c in batch(base_config(check, steps=steps), m)]
    kw = {"onehot_sums": True} if check.smoke else {}
    first, n1 = train_steps(configs, steps, deadline, **kw)
    second, n2 = train_steps(configs, steps, deadline, **kw)
    alone, n3 = train_steps(configs[:1], steps, deadline, **kw)
    out: dict = {"models": m, "steps": [n1, n2, n3]}
    out["repeat_bit_identical"] = n1 == n2 and bit_identical(first, second)
    model0 = {k: v[:1] for k, v in first.items()}
    out["alone_bit_identical"] = n1 == n3 and bit_identical(alone, model0)
    out["alone_max_rel_err"] = max_rel_err(alone, model0)
    # the ops PyTorch itself flags as nondeterministic on this device, in one step
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Trainer(configs[:2], **kw).step()
            check.sync()
        out["flagged_ops"] = sorted({str(w.message)[:200] for w in caught
                                     if "deterministic" in str(w.message)})
    finally:
        torch.use_deterministic_algorithms(False)
    out["pass"] = out["repeat_bit_identical"] and out["alone_max_rel_err"] <= 1e-12
    if not out["pass"]:
        out["status_override"] = "fail"
    if min(n1, n2, n3) < steps:
        out["status_override"] = "timeout"
    return out


def section_speed(check: Check, deadline: float) -> dict:
    sizes = (1, 4, 16) if check.smoke else (1, 10, 100, 1000, 4000)
    rows = []
    dtypes = ("float64", "float32")
    per_dtype = (deadline - time.perf_counter()) / len(dtypes)
    for j, dtype in enumerate(dtypes):
        dtype_deadline = time.perf_counter() + per_dtype if j == 0 else deadline
        for m in sizes:
            if time.perf_counter() > dtype_deadline:
                rows.append({"dtype": dtype, "M": m, "skipped": "time"})
                continue
            cfg = base_config(check, dtype=dtype, device=check.device)
            need = bytes_per_model(cfg, check.device)["total"] * m
            if need > 0.9 * free_memory(check.device):
                rows.append({"dtype": dtype, "M": m, "skipped": f"needs ~{need / 2**30:.1f} GiB"})
                continue
            try:
                rows.append(speed_row(check, cfg, m, dtype_deadline))
            except torch.cuda.OutOfMemoryError as exc:
                rows.append({"dtype": dtype, "M": m, "skipped": f"out of memory: {exc}"[:300]})
                torch.cuda.empty_cache()
            check.log(f"   {rows[-1]}")
            check.results["sections"]["speed"]["rows"] = rows
            check.save()
    return {"rows": rows}


def speed_row(check: Check, cfg: RunConfig, m: int, deadline: float) -> dict:
    """Time bare steps (train metrics every 10th, as in a run) of m models."""
    cuda = check.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    trainer = Trainer(batch(cfg, m))
    met = torch.empty(m, 2, dtype=trainer.dtype, device=trainer.device)
    for _ in range(2):  # warm-up
        trainer.step(None, met)
    check.sync()
    t = time.perf_counter()
    trainer.step()
    check.sync()
    one = time.perf_counter() - t
    remaining = max(deadline - time.perf_counter(), 0.0)
    steps = int(max(1, min(3 if check.smoke else 50, 0.5 * remaining / max(one, 1e-6))))
    t = time.perf_counter()
    for i in range(steps):
        trainer.step(None, met if i % 10 == 0 else None)
    check.sync()
    sec = (time.perf_counter() - t) / steps
    row = {"dtype": cfg.dtype, "M": m, "steps": steps, "ms_per_step": round(sec * 1e3, 3),
           "us_per_model_step": round(sec * 1e6 / m, 3),
           "estimate_bytes_per_model": bytes_per_model(cfg, check.device)["total"]}
    if cuda:
        peak = torch.cuda.max_memory_allocated() - base
        row["peak_bytes_per_model"] = int(peak / m)
    del trainer
    return row


def section_store(check: Check, deadline: float) -> dict:
    """The full run path: train_to_store with recording, commit and reading back."""
    m, steps = (4, 20) if check.smoke else (1000, 300)
    try:
        from circle_survival import load, train_to_store
        importlib.import_module("zarr")
    except Exception as exc:
        return {"status_override": "skipped",
                "reason": f"the store cannot be used here: {type(exc).__name__}: {exc}"}
    configs = [c.replace(device=check.device) for c in batch(base_config(check, steps=steps), m)]
    root = Path(tempfile.mkdtemp(prefix="device-check-store-"))
    try:
        t = time.perf_counter()
        ids = train_to_store(configs, root / "store", max_batch=m)
        seconds = time.perf_counter() - t
        store = load(root / "store")
        _, sig = store.signals(ids[0])
        size = sum(f.stat().st_size for f in (root / "store").rglob("*") if f.is_file())
        return {"models": m, "steps": steps, "seconds": round(seconds, 2),
                "us_per_model_step": round(seconds * 1e6 / (m * steps), 3),
                "runs_read_back": len(store.runs), "signal_rows": int(sig.shape[0]),
                "store_mib": round(size / 2**20, 1)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def section_projection(check: Check, deadline: float) -> dict:
    rows = check.results["sections"].get("speed", {}).get("rows", [])
    out: dict = {"paper_model_steps": PAPER_MODEL_STEPS}
    for dtype in ("float64", "float32"):
        rates = [r["us_per_model_step"] for r in rows
                 if r.get("dtype") == dtype and "us_per_model_step" in r]
        if rates:
            best = min(rates)
            out[dtype] = {"best_us_per_model_step": best,
                          "hours": round(PAPER_MODEL_STEPS * best * 1e-6 / 3600, 2)}
    return out


def section_compile(check: Check, deadline: float) -> dict:
    steps = 20 if check.smoke else 100
    configs = [c.replace(device=check.device) for c in batch(base_config(check, steps=steps), 4)]
    t = time.perf_counter()
    eager, _ = train_steps(configs, steps)
    compiled, done = train_steps(configs, steps, deadline, compile_step=True)
    out: dict = {"seconds_with_compilation": round(time.perf_counter() - t, 1), "steps": done}
    if done < steps:
        return {**out, "status_override": "timeout"}
    out["max_rel_err"] = max_rel_err(compiled, eager)
    out["pass"] = out["max_rel_err"] <= 1e-12
    m = 4 if check.smoke else 1000
    for name, kw in (("eager", {}), ("compiled", {"compile_step": True})):
        if time.perf_counter() > deadline:
            break
        trainer = Trainer(batch(base_config(check, device=check.device), m), **kw)
        for _ in range(3):
            trainer.step()
        check.sync()
        t = time.perf_counter()
        for _ in range(10):
            trainer.step()
        check.sync()
        out[f"{name}_us_per_model_step_M{m}"] = round((time.perf_counter() - t) * 1e6 / (10 * m), 3)
        del trainer
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="every path on the CPU, tiny sizes")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    ap.add_argument("--out", default=None, help="default: $OUT, else ./out")
    ap.add_argument("--compile", action="store_true",
                    help="with --smoke: also the compile section (slow on a CPU)")
    args = ap.parse_args(argv)
    device = args.device or ("cpu" if args.smoke else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("device_check: CUDA is not available here (use --smoke for the CPU)",
              file=sys.stderr)
        return 2
    out = Path(args.out or os.environ.get("OUT") or "out")
    check = Check(out, args.smoke, device)
    scale = 0.05 if args.smoke else 1.0
    # budgets (s): about 7.5 minutes in all on a GPU, the compile section last
    check.section("env", 30 * scale, lambda d: section_env(check, d))
    check.section("agreement", 60 * scale, lambda d: section_agreement(check, d))
    check.section("determinism", 60 * scale, lambda d: section_determinism(check, d))
    check.section("speed", 150 * scale, lambda d: section_speed(check, d))
    check.section("store", 90 * scale, lambda d: section_store(check, d))
    check.section("projection", 5, lambda d: section_projection(check, d))
    if not args.smoke or args.compile:
        check.section("compile", 90, lambda d: section_compile(check, d))
    check.results["seconds"] = round(time.perf_counter() - check.t0, 1)
    check.save()
    check.log(f"done in {check.results['seconds']} s: {check.json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
