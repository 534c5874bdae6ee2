"""The whole engine on a dense quTAG file, as ratios to reading the same file from the page cache.

    python bench/bench_engine.py [--seconds 20] [--repeat 3] [--keep DIR]

A quTAG binary file with a sync tag on every pulse (1 MHz) and two SPADs at 20 kcounts/s each (the
issue-14 case: 120 s of it are 125 M tags, 1.25 GB). Timed in the same run, best of --repeat:
  read    the file's bytes through one reused buffer (page cache warm): the I/O floor
  decode  every TagChunk of tagstream.io (decode + time-order check / reorder)
  analyze tagstream.pipeline.analyze_file (one pass per record + trace + g2 + finalize, default config:
          as `tagstream analyze` runs it), also with the opt-in intensity correlation (--correlation; its
          cost grows with photons, not records: ~300 ns CPU per photon, 3x the rest here)
  general the same through the general path (reader.chunks(): decode + reorder, then the pipeline)
  memory  decode + pipeline of the file's bytes already in memory (Pipeline.feed_ordered), CPU time
and prints analyze/read (target <= 3) and decode + pipeline in memory in M tags/s (target >= 300).
The timings of one line are taken in turn with the others (best of --repeat), so all see the same load.

Recorded (2026-12-02, Intel Xeon with AVX-512, 2 cores shared, load 1.0-1.8), before -> after the
microtime kernel's vectorised blocks of usual records (and their one-compare window test): 20 s:
analyze/read 3.13x -> 2.35-2.82x (wall, noisy at this load), in memory 188 -> 337-351 M tags/s; 120 s
(1.25 GB): analyze/read 2.87x -> 2.45-2.61x, in memory 193 -> 326-345 M tags/s.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench_pipeline import best_of  # one timing helper for the benches
from tagstream.chunk import TagChunk
import dataclasses
import time

from tagstream.io import open_tags, write_qutag_binary
from tagstream.io.qutag import record_views
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.setup import Setup


def dense_chunks(seconds: float, rate_cps: float = 2e4, seed: int = 0):
    rng = np.random.default_rng(seed)
    P = 1_000_000
    first = 0
    for s in range(int(np.ceil(seconds))):
        n_sync = 1_000_000
        sync = (np.arange(n_sync, dtype=np.int64) + s * n_sync) * P + rng.integers(-20, 21, n_sync)
        ph = np.sort(rng.integers(s * n_sync * P, (s + 1) * n_sync * P, int(2 * rate_cps)))
        ts = np.concatenate([sync, ph])
        ch = np.concatenate([np.full(n_sync, 5, np.uint16), rng.integers(1, 3, ph.size).astype(np.uint16)])
        o = np.argsort(ts, kind="stable")
        yield TagChunk(ts[o], ch[o], first)
        first += ts.size


def read_bytes(path: Path) -> int:
    buf = bytearray(1 << 24)
    view = memoryview(buf)
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(view)
            if not k:
                return n
            n += k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="directory for the generated file (reused if present)")
    a = ap.parse_args()
    tmp = None if a.keep else tempfile.TemporaryDirectory()
    d = a.keep or Path(tmp.name)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"dense_{a.seconds:g}s.qutag"
    if not path.exists():
        write_qutag_binary(path, dense_chunks(a.seconds))
    setup = Setup(sync=5, spad_a=1, spad_b=2, sync_divider=1)
    cfg = AnalysisConfig(trace_bin_ms=100, on_threshold=400)                 # the default: no correlation
    with_corr = dataclasses.replace(cfg, intensity_correlation=True)
    n = sum(len(c) for c in open_tags(path).chunks())          # warm page cache and numba caches
    analyze_file(path, setup, cfg)
    raw = np.fromfile(path, np.uint8)[40:]

    def general(c):
        pipe = Pipeline(setup, c)
        for chunk in open_tags(path).chunks():
            pipe.feed(chunk)
        return pipe.finalize()

    def in_memory(c):   # CPU time of decode + pipeline over bytes in memory
        t0 = time.process_time()
        pipe = Pipeline(setup, c)
        w = 1 << 20
        wins = ((f, *record_views(raw[10 * f:], min(w, n - f))) for f in range(0, n, w))
        assert pipe.feed_ordered(wins, n, open_tags(path).valid_channels, 1_000_000) is None
        pipe.finalize()
        cpu[c.intensity_correlation] = min(cpu.get(c.intensity_correlation, 1e9), time.process_time() - t0)

    cpu: dict = {}
    t_read, t_dec, t_an, t_an0, t_gen, t_gen0, _, _ = best_of(
        a.repeat, lambda: read_bytes(path), lambda: sum(len(c) for c in open_tags(path).chunks()),
        lambda: analyze_file(path, setup, cfg), lambda: analyze_file(path, setup, with_corr),
        lambda: general(cfg), lambda: general(with_corr), lambda: in_memory(cfg), lambda: in_memory(with_corr))
    mb = path.stat().st_size / 1e6
    print(f"dense file: {a.seconds:g} s, {n / 1e6:.1f} M tags, {mb:.0f} MB")
    line = "{:38s} {:7.3f} s  {:7.1f} M tags/s   = {:5.2f} x read{}"
    print(line.format("read (page cache, one buffer)", t_read, n / t_read / 1e6, 1.0, "  (reference)"))
    print(line.format("decode (tagstream.io chunks)", t_dec, n / t_dec / 1e6, t_dec / t_read, ""))
    print(line.format("analyze_file end to end", t_an, n / t_an / 1e6, t_an / t_read, "  (target <= 3)"))
    print(line.format("  with intensity correlation", t_an0, n / t_an0 / 1e6, t_an0 / t_read, "  (--correlation)"))
    print(line.format("general path (decode+reorder+pipeline)", t_gen, n / t_gen / 1e6, t_gen / t_read, ""))
    print(line.format("  with intensity correlation", t_gen0, n / t_gen0 / 1e6, t_gen0 / t_read, ""))
    for corr in (False, True):
        print(f"decode + pipeline in memory, CPU {'with' if corr else 'without'} correlation: {cpu[corr]:7.3f} s "
              f"{n / cpu[corr] / 1e6:7.1f} M tags/s (target >= 300)")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
