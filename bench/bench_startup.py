"""Start-up cost of the CLI, as ratios to `python -c "import numpy"` measured in the same run.

    python bench/bench_startup.py [--repeat 5] [--duration-s 20]

Prints the best-of-N wall time of: importing numpy (the reference), `tagstream --help`, and
`tagstream analyze` of a seed-style recording made by `tagstream simulate` (fits and spectra sidecar
included, i.e. the default command), plus which heavy modules `--help` loaded (should be none).
Targets (issue 14): --help <= 3x, analyze of 20 s <= 6x.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("scipy", "PyQt6", "polars", "h5py", "numba", "pyqtgraph")


def wall(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="best of N for each timing")
    ap.add_argument("--duration-s", type=float, default=20.0, help="simulated recording length")
    a = ap.parse_args()
    py = sys.executable
    ts = [py, "-m", "tagstream.cli"]
    with tempfile.TemporaryDirectory() as d:
        rec = Path(d) / "seed.qutag"
        subprocess.run(ts + ["simulate", "--duration-s", str(a.duration_s), "--seed", "1", "-o", str(rec)],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(ts + ["analyze", str(rec)], check=True, stdout=subprocess.DEVNULL)  # numba caches warm
        loaded = subprocess.run([py, "-c", "import sys, tagstream.cli as c; c.build_parser(); "
                                 f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"],
                                check=True, capture_output=True, text=True).stdout.strip()
        # interleave so that load from other processes on the machine hits all three alike
        t_np = t_help = t_an = t_ns = float("inf")
        for _ in range(a.repeat):
            t_np = min(t_np, wall([py, "-c", "import numpy"], 1))
            t_help = min(t_help, wall(ts + ["--help"], 1))
            t_an = min(t_an, wall(ts + ["analyze", str(rec)], 1))
            t_ns = min(t_ns, wall(ts + ["analyze", str(rec), "--no-spectra"], 1))
    print(f"python -c 'import numpy'        {t_np * 1e3:7.0f} ms   (reference)")
    print(f"tagstream --help                {t_help * 1e3:7.0f} ms   = {t_help / t_np:5.2f} x numpy   (target <= 3)")
    print(f"tagstream analyze ({a.duration_s:g} s rec.)   {t_an * 1e3:7.0f} ms   = {t_an / t_np:5.2f} x numpy   "
          f"(target <= 6; fits + spectra sidecar)")
    print(f"  ... --no-spectra                {t_ns * 1e3:7.0f} ms   = {t_ns / t_np:5.2f} x numpy   "
          f"(fits, no scipy.optimize for the spectra peaks)")
    print(f"heavy modules imported by --help: {loaded or 'none'}")


if __name__ == "__main__":
    main()
