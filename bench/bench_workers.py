"""One recording over many cores: `analyze --workers N` (tagstream.slices) against one worker, in one run.

    python bench/bench_workers.py [--seconds 30] [--rate-cps 2e4] [--workers 2] [--repeat 2] [--keep DIR]

The CPU-bound case of issue 14: a quTAG BINARY file with a sync tag on every pulse (1 MHz) and two SPADs
(bench_engine's dense file), page cache warm, default analysis (microtime, trace, g2; the intensity
correlation is opt-in). Timed alternately, best of --repeat (wall), with the default config and with the
correlation stage (--correlation: each slice counts its own starts, reading 10 s of photons past its end, when the first and last slices are
longer than 10 s; else the master runs it over all photons after the slices):
  1 worker              tagstream.pipeline.analyze_file in this process
  N workers, new pool   tagstream.slices.analyze_file_sliced as `analyze --workers N` runs it (a fresh
                        spawn pool: process start-up and imports included)
  N workers, warm pool  the same on a pool whose processes are already running (as on a Dask cluster)
Prints the wall speed-up (issue target >= 1.7 for 2 workers) and, as the machine is shared, for each run
the CPU time on the critical path (this process + the slowest slice's worker: what the wall time would
be on free cores), the cores used (CPU time of this process and its workers over the wall time) and the
whole machine's busy fraction from /proc/stat; and the speed-up the CPU times give (one-core CPU time /
critical-path CPU time, what 2 free cores would show). Checks the results are identical.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_engine import dense_chunks
from tagstream.export.executors import slice_executor
from tagstream.io import write_qutag_binary
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import Setup
from tagstream.slices import analyze_file_sliced


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far (Linux /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


SLICE_CPU: list[float] = []


def recording(submit):
    """submit(fn, job) that also notes each slice's worker CPU time (SlicePart.cpu_s)."""
    class Noted:
        def __init__(self, fut):
            self.fut = fut

        def result(self):
            part = self.fut.result()
            SLICE_CPU.append(part.cpu_s)
            return part
    return lambda fn, job: Noted(submit(fn, job))


def timed(fn) -> dict:
    SLICE_CPU.clear()
    t0, c0, m0, p0 = time.perf_counter(), os.times(), machine_jiffies(), time.process_time()
    res = fn()
    t1, c1, m1, p1 = time.perf_counter(), os.times(), machine_jiffies(), time.process_time()
    wall = t1 - t0
    cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
        + (c1.children_system - c0.children_system) + sum(SLICE_CPU)
    busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    # the CPU time on the critical path: this process (planning, merge) + the slowest slice
    critical = (p1 - p0) + max(SLICE_CPU) if SLICE_CPU else (p1 - p0) if c1.children_user == c0.children_user \
        and c1.children_system == c0.children_system else None   # a new pool's workers: not per slice
    return {"wall": wall, "cores_used": cpu / wall, "machine_busy": busy, "res": res, "critical_cpu": critical}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="recording length (1 M syncs + photons per s)")
    ap.add_argument("--rate-cps", type=float, default=2e4, help="photons per second per SPAD")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="directory for the generated file (reused if present)")
    a = ap.parse_args()
    d = a.keep or Path(tempfile.mkdtemp(prefix="bench_workers_"))
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"dense_{a.seconds:g}s_{a.rate_cps:g}cps.qutag"
    if not path.exists():
        write_qutag_binary(path, dense_chunks(a.seconds, a.rate_cps))
    n_tags = (path.stat().st_size - 40) // 10
    setup = Setup(sync=5, spad_a=1, spad_b=2)
    print(f"{path.name}: {n_tags / 1e6:.1f} M tags, {path.stat().st_size / 1e9:.2f} GB, {os.cpu_count()} cores")
    with slice_executor(a.workers) as pool:   # a warm pool (as on a Dask cluster): start-up not timed
        submit = recording(pool)
        for label, cfg in (("default (no correlation)", AnalysisConfig()),
                           ("with the intensity correlation (--correlation)", AnalysisConfig(intensity_correlation=True))):
            analyze_file(path, setup, cfg)                          # warm: page cache, numba caches
            analyze_file_sliced(path, setup, cfg, submit=submit)    # warm: the pool's processes
            runs = {"1 worker": [], f"{a.workers} workers, new pool": [], f"{a.workers} workers, warm pool": []}
            for _ in range(a.repeat):
                runs["1 worker"].append(timed(lambda: analyze_file(path, setup, cfg)))
                runs[f"{a.workers} workers, new pool"].append(
                    timed(lambda: analyze_file_sliced(path, setup, cfg, workers=a.workers)))
                runs[f"{a.workers} workers, warm pool"].append(
                    timed(lambda: analyze_file_sliced(path, setup, cfg, submit=submit)))
            print(f"{label}:")
            best = {}
            for name, rs in runs.items():
                best[name] = min(r["wall"] for r in rs)
                for r in rs:
                    print(f"  {name:24s} {r['wall']:7.2f} s wall  {n_tags / r['wall'] / 1e6:6.1f} M tags/s  "
                          + (f"CPU on the critical path {r['critical_cpu']:5.2f} s  " if r["critical_cpu"] is not None
                             else "") + f"cores used {r['cores_used']:.2f}  "
                          f"machine busy {100 * r['machine_busy']:.0f} %")
            ref = runs["1 worker"][0]["res"].to_json_dict()
            same = all(r["res"].to_json_dict() == ref for rs in runs.values() for r in rs)
            one = best.pop("1 worker")
            print("  speed-up, wall (best of %d): " % a.repeat + ", ".join(f"{k} {one / v:.2f}x" for k, v in best.items())
                  + f" (target >= 1.7 for 2 workers); identical results: {same}")
            c1 = min(r["critical_cpu"] for r in runs["1 worker"])
            cw = min(r["critical_cpu"] for r in runs[f"{a.workers} workers, warm pool"])
            print(f"  speed-up on {a.workers} free cores (one-core CPU / CPU on the critical path, warm pool): "
                  f"{c1 / cw:.2f}x")


if __name__ == "__main__":
    main()
