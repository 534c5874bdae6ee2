"""Batch export throughput: files/s and tags/s for 1 worker (in-process), a 2-process local pool and a
Dask LocalCluster (2 worker processes), on the same simulated recordings; peak RSS per worker.

Reference: a plain loop of analyze_file over the same files (no fits, tables or report), so the
ratios show the batch's overhead and the parallel speed-up. A last run pairs a short and a 4x longer
recording on two workers: their peak RSS should be about equal (streaming, bounded memory).

    /tmp/v/bin/python bench/bench_batch.py [--n 8] [--duration-s 60] [--no-report]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tagstream.export.batch import run_batch
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import Setup
from tagstream.simulate.files import simulate_to_files


def line(label, seconds, n_files, tags, ref_tags_s=None, rss=None):
    s = (f"{label:<34} {seconds:7.2f} s  {n_files / seconds:6.2f} files/s  {tags / seconds / 1e6:6.2f} Mtags/s")
    if ref_tags_s:
        s += f"  x{tags / seconds / ref_tags_s:5.2f} vs reference"
    if rss:
        s += "  peak RSS/worker " + ", ".join(f"{v:.0f}" for v in rss) + " MB"
    print(s, flush=True)


def worker_rss(res) -> list[float]:
    by_pid: dict = {}
    for o in res.outcomes:
        if o["pid"] is not None and o["peak_rss_mb"] is not None:
            by_pid[o["pid"]] = max(by_pid.get(o["pid"], 0.0), o["peak_rss_mb"])
    return sorted(by_pid.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="recordings (default 8)")
    ap.add_argument("--duration-s", type=float, default=60.0, help="seconds per recording (default 60)")
    ap.add_argument("--no-report", action="store_true", help="leave out the PNG report")
    ap.add_argument("--no-dask", action="store_true")
    a = ap.parse_args()
    cfg = AnalysisConfig(trace_bin_ms=100.0)
    report = not a.no_report
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        rec = tmp / "rec"
        rec.mkdir()
        t = time.perf_counter()
        for i in range(a.n):
            simulate_to_files(None, a.duration_s, rec / f"qd{i:02d}.qutag", seed=i)
        print(f"simulated {a.n} x {a.duration_s:g} s recordings in {time.perf_counter() - t:.1f} s "
              f"({sum(p.stat().st_size for p in rec.glob('*.qutag')) / 1e6:.1f} MB of tags); "
              f"cpu_count {os.cpu_count()}; report {'on' if report else 'off'}", flush=True)
        files = sorted(rec.glob("*.qutag"))
        analyze_file(files[0], Setup.from_toml(rec / "qd00.setup.toml"), cfg)     # numba cache warm-up
        t = time.perf_counter()
        tags = sum(analyze_file(f, Setup.from_toml(f.with_suffix(".setup.toml")), cfg).n_records for f in files)
        dt = time.perf_counter() - t
        ref = tags / dt
        line("reference: analyze_file loop", dt, len(files), tags)

        kw = dict(config=cfg, report=report, spectra_pattern="{stem}.spectra.npz", log=print)
        for label, extra in (("batch, 1 worker (in-process)", dict(workers=1)),
                             ("batch, 2 worker processes", dict(workers=2))):
            r = run_batch([rec], tmp / label.split(",")[1].strip().replace(" ", "_"), **kw, **extra)
            assert r.n_failed == 0
            line(label, r.seconds, r.n_done, r.tags, ref, worker_rss(r))
        if not a.no_dask:
            try:
                from distributed import LocalCluster
            except ImportError:
                print("dask.distributed not installed: pip install 'tagstream[cluster]'")
            else:
                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
                    r = run_batch([rec], tmp / "dask", scheduler=c, **kw)
                assert r.n_failed == 0
                line("batch, Dask LocalCluster 2 procs", r.seconds, r.n_done, r.tags, ref, worker_rss(r))
                print("  (cluster start-up excluded; worker start-up and imports included in all parallel runs)")

        # bounded memory: a 4x longer recording next to a short one, one per worker process
        mem = tmp / "mem"
        mem.mkdir()
        simulate_to_files(None, a.duration_s, mem / "short.qutag", seed=100)
        simulate_to_files(None, 4 * a.duration_s, mem / "long.qutag", seed=101)
        r = run_batch([mem], tmp / "mem_out", config=cfg, report=False, workers=2, log=print)
        for o, row in zip(sorted(r.outcomes, key=lambda o: o["n_records"]), ("short", "long")):
            print(f"memory: {row:<5} recording {o['n_records'] / 1e6:6.2f} Mtags -> worker peak RSS "
                  f"{o['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
