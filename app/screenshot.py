"""Screenshot of the live window for the README, made under offscreen Qt (no display needed):

    python -m tagstream.app.screenshot [--out docs/screenshot.png] [--size 1600x1000] [--seconds 30]

Runs the simulated quantum dot (with its EMCCD camera) for --seconds of stream time as fast as the
machine allows, waits until every tag is analysed, the full fit (not the acquiring preview) is drawn
and every panel shows the final snapshot, then saves QWidget.grab() of the window (exit 1, nothing
written, if that takes over 120 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/screenshot.png", help="PNG to write (default docs/screenshot.png)")
    ap.add_argument("--size", default="1600x1000", help="window size WxH in pixels (default 1600x1000)")
    ap.add_argument("--seconds", type=float, default=30.0, help="simulated stream seconds (default 30)")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"--size {args.size!r}: expected WxH, e.g. 1600x1000", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtCore, QtWidgets

    from tagstream.app.camera import SimulatedCameraSource
    from tagstream.app.spectra_model import SpectraAccumulator
    from tagstream.app.window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    with tempfile.TemporaryDirectory() as d:
        win = MainWindow(settings=QtCore.QSettings(str(Path(d) / "s.ini"), QtCore.QSettings.Format.IniFormat),
                         fit_interval_s=0.3)
        win.resize(w, h)
        win.show()
        src = SimulatedCameraSource(seed=args.seed, speed=None, duration_s=args.seconds, chunk_s=0.2)
        p = src.params
        acc = SpectraAccumulator(src.wavelength_nm, p.exposure_s, baseline_adu=p.baseline_adu)
        src.on_frames = acc.add
        win.start(source=src, spectra=acc)
        c = win.controller
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
            b = c.last_drawn
            if (c.finished and c.complete and b is not None and b.fits is not None and not c.preview
                    and b.results.n_records == c.session.status().tags_analyzed):
                break
        else:
            print("the window did not finish (every tag analysed, the full fit drawn) within 120 s: "
                  "no screenshot written", file=sys.stderr)
            c.shutdown()
            win.close()
            return 1
        end = time.monotonic() + 0.5
        while time.monotonic() < end:       # a last paint of every panel
            app.processEvents()
            time.sleep(0.01)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = win.grab().save(str(out))
        c.shutdown()
        win.close()
    if not ok:
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({w}x{h})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
