"""Benchmark the analysis engine on a simulated recording (>= 60 s at 1 MHz, seed-lab defaults).

Prints throughput (tags/s) of each stage and of the whole pipeline, the raw decode speed of the same
file (the ceiling) and the ratio, g2 speed vs a naive numpy reference and vs pycorrelate.pcorrelate
(extra `bench`; skipped with a message if missing), and peak memory (max RSS). Timings are the best
of --repeat runs (the machine is shared). Then: decode + pipeline on a dense recording (sync tag every
pulse, --dense-duration-s), and the peak RSS of decode + pipeline in a fresh process for the recording
and one 4x longer (the per-photon lifetime store is the only part that grows: 2 B per referenced photon).

    python bench/bench_pipeline.py [--duration-s 60] [--sync-divider 1000] [--dense-duration-s 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tagstream.io import open_tags, write_qutag_binary
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.setup import Setup
from tagstream.simulate import SimulationParams, Simulation
from tagstream.stages.g2 import G2Stage
from tagstream.stages.microtime import MicrotimeStage
from tagstream.stages.trace import TraceStage


def rate(n, dt):
    return f"{n / dt / 1e6:8.1f} M tags/s"


def naive_g2(ta, tb, W, b):
    out = np.zeros(2 * W // b, np.int64)
    for a in ta:
        lo, hi = np.searchsorted(tb, [a - W, a + W])
        d = tb[lo:hi] - a
        d = d[(d >= -W) & (d < W)]
        np.add.at(out, (d + W) // b, 1)
    return out


def best_of(k, fn, *others):
    """Fastest of k runs of fn (s); with others, a list: the functions run in turn, k rounds, so
    all of them see the same machine load (the machine is shared)."""
    fns = (fn,) + others
    best = [float("inf")] * len(fns)
    for _ in range(k):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t)
    return best if others else best[0]


def simulate(d: Path, duration_s: float, divider: int) -> Path:
    path = d / f"bench_{duration_s:g}s_div{divider}.qutag"
    if not path.exists():
        t = time.perf_counter()
        write_qutag_binary(path, Simulation(SimulationParams(sync_divider=divider), seed=1)
                           .chunks(chunk_s=1.0, duration_s=duration_s))
        print(f"simulated {duration_s:g} s at 1 MHz (sync divider {divider}) in {time.perf_counter() - t:.1f} s")
    return path


def analyze_rss(path: Path, divider: int) -> dict:
    """decode + pipeline + finalize in a fresh process: tags, seconds, peak RSS (VmHWM)."""
    code = (f"import json, time\nfrom tagstream.pipeline import AnalysisConfig, analyze_file\n"
            f"from tagstream.setup import Setup\nt = time.perf_counter()\n"
            f"r = analyze_file({str(path)!r}, Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider={divider}), "
            f"AnalysisConfig(trace_bin_ms=100, on_threshold=400))\n"
            f"dt = time.perf_counter() - t\nhwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
            f"print(json.dumps({{'tags': r.n_records, 'seconds': dt, 'rss_mb': int(hwm[0].split()[1]) / 1024}}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration-s", type=float, default=60.0)
    ap.add_argument("--sync-divider", type=int, default=1000)
    ap.add_argument("--dense-duration-s", type=float, default=10.0, help="dense recording (sync every pulse)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    ap.add_argument("--keep", help="directory for the generated file (default: a temporary one)")
    a = ap.parse_args()
    params = SimulationParams(sync_divider=a.sync_divider)
    tmp = tempfile.TemporaryDirectory() if not a.keep else None
    d = Path(a.keep or tmp.name)
    d.mkdir(parents=True, exist_ok=True)
    path = simulate(d, a.duration_s, a.sync_divider)
    setup = Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider=a.sync_divider)
    cfg = AnalysisConfig(trace_bin_ms=100, on_threshold=400)

    # warm up the numba caches (every stage and finalize) on a small slice
    warm = open_tags(path).chunks(chunk_records=1 << 16).__next__()
    wp = Pipeline(setup, cfg)
    wp.feed(warm)
    wp.finalize()

    chunks = list(open_tags(path).chunks(chunk_records=1 << 20))
    t_decode = best_of(a.repeat, lambda: sum(len(c) for c in open_tags(path).chunks(chunk_records=1 << 20)))
    n = sum(len(c) for c in chunks)
    print(f"file: {path.stat().st_size / 1e6:.1f} MB, {n} tags ({n / a.duration_s / 1e3:.1f} k tags/s of recording)")
    print(f"raw decode (io reader)      {rate(n, t_decode)}   (ceiling)")

    mt = MicrotimeStage(setup, None)
    t = time.perf_counter()
    batches = [mt.update(c) for c in chunks]
    t_micro = time.perf_counter() - t
    print(f"microtime stage             {rate(n, t_micro)}")

    tr = TraceStage(cfg.trace_bin_ps)
    tr.start(int(chunks[0].timestamps_ps[0]))
    t = time.perf_counter()
    for b in batches:
        tr.update(b, mt.first_period_ps)
    t_trace = time.perf_counter() - t
    print(f"trace stage                 {rate(n, t_trace)}   (on {sum(len(b.t_ps) for b in batches)} photons)")

    g2 = G2Stage(int(3.5 * 1e6), 1000)
    t = time.perf_counter()
    for b in batches:
        g2.update(b)
    t_g2 = time.perf_counter() - t
    print(f"g2 stage                    {rate(n, t_g2)}   ({int(g2.hist.sum())} pairs)")

    def whole(source):
        pipe = Pipeline(setup, cfg)
        for c in source():
            pipe.feed(c)
        return pipe.finalize()

    res = whole(lambda: chunks)
    t_pipe = best_of(a.repeat, lambda: whole(lambda: chunks))
    print(f"whole pipeline (in memory)  {rate(n, t_pipe)}   = {t_decode / t_pipe:.2f} x decode speed")
    t_file = best_of(a.repeat, lambda: whole(lambda: open_tags(path).chunks(chunk_records=1 << 20)))
    print(f"decode + pipeline           {rate(n, t_file)}   (ratio to decode alone {t_decode / t_file:.2f})")
    live = Pipeline(setup, cfg)
    for c in chunks:
        live.feed(c)
    t = time.perf_counter()
    for _ in range(20):
        live.snapshot()
    print(f"live snapshot (not final)   {(time.perf_counter() - t) / 20 * 1e3:.1f} ms")
    print(f"results: g2(0) = {res.g2.g2_zero:.3f} +- {res.g2.g2_zero_err:.3f}, ON fraction {res.trace.on_fraction:.2f}")

    # g2 vs naive reference and pycorrelate on the first seconds of photons
    allph = np.concatenate([b.t_ps for b in batches]); allw = np.concatenate([b.which for b in batches])
    m = allph < allph[0] + 10 * 10**12
    ta, tb = allph[m & (allw == 0)], allph[m & (allw == 1)]
    W, bw = 3_500_000, 1000
    t = time.perf_counter(); ref = naive_g2(ta, tb, W, bw); t_naive = time.perf_counter() - t
    st = G2Stage(W, bw)
    from tagstream.stages.microtime import PhotonBatch
    t = time.perf_counter()
    st.update(PhotonBatch(allph[m], allw[m], allph[m] * 0, allph[:0], None))
    t_k = time.perf_counter() - t
    assert np.array_equal(st.hist, ref), "g2 kernel disagrees with the naive reference"
    print(f"g2 on {m.sum()} photons (10 s): kernel {t_k * 1e3:.1f} ms, naive numpy {t_naive * 1e3:.0f} ms "
          f"({t_naive / t_k:.0f} x)", end="")
    try:
        import pycorrelate as pyc

        bins = np.arange(0, W + 1, bw)  # pcorrelate takes lags u - t >= 0: compare the positive half
        pyc.pcorrelate(ta.astype(np.float64), tb.astype(np.float64), bins.astype(np.float64))  # compile
        t = time.perf_counter(); pc = pyc.pcorrelate(ta.astype(np.float64), tb.astype(np.float64), bins.astype(np.float64))
        t_pc = time.perf_counter() - t
        print(f", pycorrelate {t_pc * 1e3:.1f} ms ({t_pc / t_k:.1f} x slower than kernel); "
              f"positive-lag pairs pycorrelate/kernel {np.sum(pc * np.diff(bins)):.0f}/{int(st.hist[W // bw:].sum())}")
    except ImportError:
        print("; pycorrelate not installed (pip install '.[bench]') - skipped")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(includes the {sum(c.timestamps_ps.nbytes + c.channels.nbytes for c in chunks) / 1e6:.0f} MB of chunks "
          f"held in memory for the per-stage timings)")

    # dense recording: sync tag every pulse (1 M syncs/s): the per-tag cost, not per-chunk overhead
    dense = simulate(d, a.dense_duration_s, 1)
    dsetup = setup.replace(sync_divider=1)
    nd = sum(len(c) for c in open_tags(dense).chunks())
    t_dd = best_of(a.repeat, lambda: sum(len(c) for c in open_tags(dense).chunks()))

    def dense_run():
        pipe = Pipeline(dsetup, cfg)
        for c in open_tags(dense).chunks():
            pipe.feed(c)
        pipe.finalize()

    t_dp = best_of(a.repeat, dense_run)
    print(f"dense ({a.dense_duration_s:g} s, sync every pulse, {nd} tags): decode {rate(nd, t_dd)}, "
          f"decode + pipeline {rate(nd, t_dp)}")

    # peak RSS of decode + pipeline in a fresh process, recording and 4x longer
    for mult in (1, 4):
        p = path if mult == 1 else simulate(d, a.duration_s * mult, a.sync_divider)
        r = analyze_rss(p, a.sync_divider)
        print(f"analyze_file {a.duration_s * mult:g} s ({r['tags']} tags): {rate(r['tags'], r['seconds'])}, "
              f"peak RSS {r['rss_mb']:.0f} MB")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
