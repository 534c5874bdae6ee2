"""Layering contract: the library never imports the GUI. Statically, no module of tagstream/ (outside
the app, installed as tagstream.app from app/) imports tagstream.app, PyQt6 or pyqtgraph; at run time,
with those modules made unimportable (a headless cluster node), every library module imports, and
`tagstream analyze --export` and `tagstream export` (worker processes included) write every table
and the report; with matplotlib also missing, the tables are written and one line says the report
was skipped and why."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "tagstream"
FIX = ROOT / "fixtures"
GUI = ("tagstream.app", "PyQt6", "pyqtgraph")
# The one door from the library to the app: `tagstream live` starts it (imported when run, not at import).
ALLOWED = {("tagstream/commands/live.py", "tagstream.app.main")}


def imported_modules(path: Path) -> list[str]:
    """Every module an import statement in the file names (also inside functions)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def test_no_library_module_imports_the_gui():
    bad = []
    files = sorted(LIB.rglob("*.py"))
    assert len(files) > 50
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        for m in imported_modules(f):
            if any(m == g or m.startswith(g + ".") for g in GUI) and (rel, m) not in ALLOWED \
                    and not any((rel, m.rsplit(".", 1)[0]) == a for a in ALLOWED):
                bad.append(f"{rel} imports {m}")
    assert not bad, "the library must not import the GUI:\n" + "\n".join(bad)


BLOCKER = '''
import importlib.abc, sys
BLOCKED = {blocked!r}
class _NoGui(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} cannot be imported on this node (test blocker)")
        return None
sys.meta_path.insert(0, _NoGui())
'''


def run_blocked(tmp_path: Path, code: str, blocked=("PyQt6", "pyqtgraph")) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (and its spawned workers, via sitecustomize) with `blocked` unimportable."""
    site = tmp_path / "site_block"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(blocked)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=900)


def test_every_library_module_imports_without_qt(tmp_path):
    p = run_blocked(tmp_path, """
        import importlib, pkgutil, sys
        try:
            import PyQt6
        except ImportError:
            pass
        else:
            raise SystemExit("blocker not active")
        import tagstream
        names = [m.name for m in pkgutil.walk_packages(tagstream.__path__, "tagstream.")
                 if not m.name.startswith("tagstream.app")]
        for n in names:
            importlib.import_module(n)
        assert not any(k.split(".")[0] in ("PyQt6", "pyqtgraph") for k in sys.modules)
        print(len(names))
    """)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[-1]) > 50


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("in")
    for f in FIX.glob("qd_demo.*"):
        shutil.copy(f, d / f.name)
    return d


OPTS = ["--bin-ms", "100", "--on-threshold", "400", "--t0-ps", "0", "--no-profile-intervals"]  # the fits are not under test here


def test_analyze_and_batch_export_work_without_qt(tmp_path, recordings):
    p = run_blocked(tmp_path, f"""
        import sys
        from tagstream.cli import main
        rc1 = main(["analyze", {str(recordings / "qd_demo.qutag")!r}, *{OPTS!r}, "--export", "A"])
        rc2 = main(["export", {str(recordings)!r}, "--out", "B", *{OPTS!r}, "--workers", "2", "--no-progress"])
        assert not any(k.split(".")[0] in ("PyQt6", "pyqtgraph") for k in sys.modules), "Qt was imported"
        sys.exit(rc1 or rc2)
    """)
    assert p.returncode == 0, p.stdout + p.stderr
    a, b = tmp_path / "A", tmp_path / "B" / "qd_demo"
    names = {f.name for f in a.iterdir()}
    assert "report.png" in names and "trap_spectrum.parquet" in names and "regime_fits.parquet" in names
    assert names == {f.name for f in b.iterdir()} - {"tagstream-manifest.json"}
    assert (a / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for n in names - {"report.png"}:
        assert pl.read_parquet(a / n).equals(pl.read_parquet(b / n)), n


def test_without_a_renderer_the_tables_are_written_and_the_skip_is_said(tmp_path, recordings):
    p = run_blocked(tmp_path, f"""
        import sys
        from tagstream.cli import main
        rc1 = main(["analyze", {str(recordings / "qd_demo.qutag")!r}, *{OPTS!r}, "--export", "A"])
        rc2 = main(["analyze", {str(recordings / "qd_demo.qutag")!r}, *{OPTS!r}, "--export", "J", "--json"])
        rc3 = main(["export", {str(recordings)!r}, "--out", "B", *{OPTS!r}, "--workers", "1", "--no-progress"])
        sys.exit(rc1 or rc2 or rc3)
    """, blocked=("PyQt6", "pyqtgraph", "matplotlib"))
    assert p.returncode == 0, p.stdout + p.stderr
    skipped = [ln for ln in (p.stdout + p.stderr).splitlines() if "report" in ln and "skipped" in ln]
    assert skipped and all("matplotlib" in ln for ln in skipped)
    a = tmp_path / "A"
    names = {f.name for f in a.iterdir()}
    assert "report.png" not in names and {"trace.parquet", "regime_fits.parquet", "trap_spectrum.parquet"} <= names
    assert names == {f.name for f in (tmp_path / "J").iterdir()}
    assert names == {f.name for f in (tmp_path / "B" / "qd_demo").iterdir()} - {"tagstream-manifest.json"}
    row = pl.read_parquet(tmp_path / "B" / "summary.parquet").row(0, named=True)
    assert row["status"] == "done" and "matplotlib" in row["report_skipped"]
    doc = json.loads(p.stdout[p.stdout.index("{"):p.stdout.rindex("}") + 1])
    assert "matplotlib" in doc["report_skipped"]
