"""Peak memory of `analyze` against recording length: bounded-memory mode vs the re-selectable store.

    python bench/bench_memory.py [--gb 1.0] [--rate-cps 2e5] [--keep DIR]

A quTAG BINARY file of --gb gigabytes (sync on every pulse at 1 MHz and two SPADs at --rate-cps each,
bench_engine's dense file), and a file of its first quarter. Each is analysed in a fresh process
(tagstream.pipeline.analyze_file, ON threshold and t0 fixed, no background subtraction, no correlation:
that stage holds the photons of its last 10 s, bounded but large at these rates), once keeping the
re-selectable per-photon store and once in bounded-memory mode; the peak RSS (VmHWM) of each run is
printed, and the ratio whole / quarter (bounded: target ~1.0, flat; the store grows 2 B per photon).
Checks the free disk space first (the two files take 1.25 x --gb).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_engine import dense_chunks
from tagstream.io import write_qutag_binary

CHILD = r"""
import json, sys, time
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import Setup
t = time.perf_counter()
cfg = AnalysisConfig(trace_bin_ms=10, on_threshold=5, t0_ps=0, subtract_background=False,
                     intensity_correlation=False, bounded_memory=sys.argv[2] == "bounded")
res = analyze_file(sys.argv[1], Setup(sync=5, spad_a=1, spad_b=2), cfg)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"hwm_mb": hwm / 1024, "seconds": time.perf_counter() - t, "n_records": res.n_records,
                  "regime_photons": [r.n_photons for r in res.regimes], "mode": res.memory_mode}))
"""


def measure(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the whole recording (the issue: 10)")
    ap.add_argument("--rate-cps", type=float, default=2e5, help="photons per second per SPAD")
    ap.add_argument("--keep", type=Path, help="directory for the generated files (reused if present)")
    a = ap.parse_args()
    d = a.keep or Path(tempfile.mkdtemp(prefix="bench_memory_"))
    d.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(d).free / 1e9
    print(f"free disk in {d}: {free_gb:.1f} GB; the files need {1.25 * a.gb:.1f} GB")
    if free_gb < 1.25 * a.gb + 2:
        sys.exit(f"not enough free disk space for --gb {a.gb:g}: use a smaller --gb")
    seconds = a.gb * 1e9 / 10 / (1e6 + 2 * a.rate_cps)
    whole, quarter = d / f"mem_{a.gb:g}GB.qutag", d / f"mem_{a.gb:g}GB_quarter.qutag"
    if not whole.exists():
        write_qutag_binary(whole, dense_chunks(seconds, a.rate_cps))
    if not quarter.exists():
        write_qutag_binary(quarter, dense_chunks(seconds / 4, a.rate_cps))
    res = {}
    for mode in ("reselectable", "bounded"):
        for name, path in (("quarter", quarter), ("whole", whole)):
            r = res[mode, name] = measure(path, mode)
            print(f"  {mode:12s} {name:7s} {path.stat().st_size / 1e9:6.2f} GB {r['n_records'] / 1e6:7.1f} M tags  "
                  f"peak RSS {r['hwm_mb']:7.1f} MB  {r['seconds']:6.1f} s  ({r['mode']})")
    for mode in ("reselectable", "bounded"):
        q, w = res[mode, "quarter"]["hwm_mb"], res[mode, "whole"]["hwm_mb"]
        print(f"{mode}: peak RSS whole / quarter = {w / q:.2f} (+{w - q:.0f} MB)"
              + ("  (target: flat, ~1.0)" if mode == "bounded" else ""))
    same = res["reselectable", "whole"]["regime_photons"] == res["bounded", "whole"]["regime_photons"]
    print(f"same regime photon counts in both modes: {same}")


if __name__ == "__main__":
    main()
