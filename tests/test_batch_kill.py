"""Batch export under a kill: a batch stopped at any file write resumes, and pool workers die with
their parent (issue 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tagstream.export import batch


class Killed(BaseException):
    """Stands for kill -9 at a write (atomic writes: the file is written whole or not at all)."""


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    from tagstream.cli import main

    d = tmp_path_factory.mktemp("recs")
    for k in (1, 2):
        assert main(["simulate", "--duration-s", "0.3", "--seed", str(k), "--no-spectra", "-o", str(d / f"q{k}.qutag")]) == 0
    return d


def _run(recs, out):
    return batch.run_batch([recs], out, workers=1, fits=False, report=False)


def _rows(df):
    return df.drop("status").to_dicts()


def test_resume_after_a_kill_at_any_write(recs, tmp_path, monkeypatch):
    ref = _rows(_run(recs, tmp_path / "ref").summary)
    from tagstream.export import batch_job, parquet

    # every module of the batch that writes a file, with the atomic writer it calls
    writers = [(m, name) for m in (batch, batch_job, parquet) for name in ("write_json_atomic", "atomic_path")
               if hasattr(m, name)]
    n_writes = 0
    k = 0
    while True:
        out = tmp_path / f"out{k}"
        calls = {"n": 0}

        def counted(real):
            def f(*a, **kw):
                calls["n"] += 1
                if calls["n"] == k + 1:
                    raise Killed()
                return real(*a, **kw)
            return f

        for m, name in writers:
            monkeypatch.setattr(m, name, counted(getattr(m, name)))
        try:
            _run(recs, out)
            killed = False
        except Killed:
            killed = True
        monkeypatch.undo()
        res = _run(recs, out)                 # the resume: must start and give the same rows
        assert _rows(res.summary) == ref, f"kill at write {k + 1}"
        if not killed:
            n_writes = k
            break
        k += 1
    assert n_writes >= 7        # 2 x (incomplete manifest, tables, manifest) + batch manifest + 2 summaries


@pytest.mark.slow
def test_pool_workers_die_with_the_parent(recs, tmp_path):
    code = (f"from tagstream.export.batch import run_batch; "
            f"run_batch([{str(recs)!r}] * 1, {str(tmp_path / 'out')!r}, workers=2, fits=True, report=True)")
    parent = subprocess.Popen([sys.executable, "-c", code])
    children: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and len(children) < 2 and parent.poll() is None:
        children |= _children(parent.pid)
        time.sleep(0.2)
    assert children, "no pool workers seen"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in children):
        time.sleep(0.2)
    assert not any(_alive(p) for p in children)


def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and "python" in (d / "cmdline").read_bytes().decode(errors="replace"):
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
