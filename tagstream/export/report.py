"""One-page PNG report of an analysis (tagstream.product.Analysis): header with the headline numbers,
fits, spectral peaks and every warning; intensity and average-lifetime traces; FLID; g2 with g2(0);
decays per regime with fits and residuals; the ON lifetime histogram with the regimes; with spectra
the EMCCD waterfall and the spectrum per regime with the reconstructed trap spectrum.

    from tagstream.export.report import render_report
    render_report(analysis, "qd7_report.png")

Drawn with matplotlib's Agg backend through its object API (a Figure per call, no pyplot state): no
display, no Qt, safe in any thread, so a batch worker on a headless node draws it in-process. The
PNG is written atomically; an existing file is only replaced with overwrite=True (ExportError).
Where matplotlib cannot be imported, report_unavailable() says why, and the callers write every
table and say in one line that the report was skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tagstream.atomic import atomic_path
from tagstream.errors import ExportError

PAGE_PX = (1500, 2000)
DPI = 100
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def report_unavailable() -> str | None:
    """None if the report can be drawn here, else why not (one line)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return f"matplotlib cannot be imported ({type(exc).__name__}: {exc})"
    return None


def header_lines(a) -> list[str]:
    """The report's text: what was measured, the headline numbers, the fit / spectra notes, warnings."""
    res = a.results
    g, tr = res.g2, res.trace
    rows = [f"{res.n_records:,} tags · {res.duration_s:.2f} s · "
            + (f"laser period {res.laser_period_ps / 1e3:.3f} ns" if res.laser_period_ps else "no laser sync")
            + " · " + ", ".join(f"{k} {v:,}" for k, v in res.counts.items() if k != "total")]
    g0 = "n/a" if g is None or g.g2_zero is None else f"{g.g2_zero:.3f} ± {g.g2_zero_err:.3f}"
    rows.append(f"g²(0) = {g0} · trace bin {tr.bin_ms:g} ms · ON threshold {tr.on_threshold:g} counts "
                f"({tr.on_threshold_method}) · ON fraction {100 * tr.on_fraction:.1f} % · "
                f"background {100 * res.decay.background_fraction:.2f} %"
                + (f" · t0 {res.decay.t0_ps / 1e3:.2f} ns" if res.decay.t0_ps is not None else ""))
    parts = []
    for r in res.regimes:
        s = f"{r.regime.display}: {r.n_bins} bins, {r.n_photons:,} photons"
        if r.fit is not None and hasattr(r.fit, "lifetimes_ns"):
            s += " (fit " + ", ".join(f"τ {v:.1f} ns" for v in r.fit.lifetimes_ns().values())
            s += (f", trap {100 * r.fit.fractions['trap']:.0f} %" if "trap" in r.fit.fractions else "") + ")"
        parts.append(s)
    if parts:
        rows.append("regimes: " + " · ".join(parts))
    if a.spectra is not None:
        rows.append(f"spectra: {a.spectra.n_frames} EMCCD frames ({a.spectra.timing_source})")
    rows += [re.sub(r"</?b>", "", n) for n in a.report_notes()]
    return rows


def build_figure(a, size: tuple[int, int] = PAGE_PX):
    """The page as a matplotlib Figure (not yet drawn); returns (figure, axes by name)."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    res = a.results
    tr = res.trace
    spectra = a.spectra is not None and a.series is not None
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    blink = res.blinking is not None or res.intensity_correlation is not None
    heights = [1.6, 2, 2, 3, 3, 1] + ([3] if spectra else []) + ([3] if blink else [])
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights, hspace=0.45, wspace=0.18,
                          left=0.06, right=0.98, top=0.985, bottom=0.03)
    ax = {}
    head = fig.add_subplot(gs[0, :])
    head.axis("off")
    lines = header_lines(a)
    head.text(0, 1, a.title, fontsize=15, fontweight="bold", va="top", transform=head.transAxes)
    head.text(0, 0.80, "\n".join(lines), fontsize=9, va="top", transform=head.transAxes, wrap=True)
    ax["header"] = head

    n = max(tr.counts.size - 1, 0)          # the last (open) bin is not shown
    t_s = (tr.bin_start_ps[:n] - (tr.bin_start_ps[0] if n else 0)) * 1e-12
    p = ax["intensity"] = fig.add_subplot(gs[1, :])
    p.plot(t_s, tr.counts[:n], color="k", lw=0.8, label="A + B")
    p.plot(t_s, tr.counts_a[:n], color=COLORS[0], lw=0.5, alpha=0.7, label="A")
    p.plot(t_s, tr.counts_b[:n], color=COLORS[1], lw=0.5, alpha=0.7, label="B")
    p.axhline(tr.on_threshold, color="0.4", ls="--", lw=1, label=f"ON > {tr.on_threshold:g}")
    p.set(xlabel="time (s)", ylabel=f"counts per {tr.bin_ms:g} ms")
    p.legend(loc="upper right", fontsize=8, ncol=4)

    p = ax["lifetime"] = fig.add_subplot(gs[2, :], sharex=ax["intensity"])
    p.plot(t_s, tr.lifetime_ns[:n], ".", color="0.7", ms=2, label="all bins")
    for i, r in enumerate(res.regimes):
        b = r.bins[r.bins < n]
        p.plot(t_s[b], tr.lifetime_ns[b], ".", color=COLORS[i % len(COLORS)], ms=3, label=f"ON, {r.regime.display}")
    p.set(xlabel="time (s)", ylabel="average lifetime (ns)")
    fin = tr.lifetime_ns[:n][np.isfinite(tr.lifetime_ns[:n])]
    if fin.size:
        p.set_ylim(max(0.0, np.percentile(fin, 0.5) - 5), np.percentile(fin, 99.5) + 5)
    p.legend(loc="upper right", fontsize=8, ncol=4)

    f = res.flid
    p = ax["flid"] = fig.add_subplot(gs[3, 0])
    h = np.ma.masked_equal(f.hist.T.astype(float), 0)
    if h.count():
        m = p.pcolormesh(f.count_edges, f.lifetime_edges_ns, h, norm=LogNorm(vmin=1, vmax=max(h.max(), 1)),
                         cmap="viridis")
        ax["flid_colorbar"] = _colour_bar(fig, m, p, "trace bins per cell")
    p.set(xlabel=f"counts per {tr.bin_ms:g} ms", ylabel="average lifetime (ns)", title="FLID (bins)")

    p = ax["g2"] = fig.add_subplot(gs[3, 1])
    if res.g2 is not None:
        g = res.g2
        p.plot((g.tau_ps + g.bin_ps / 2) * 1e-3, g.normalized, color="k", lw=0.8)
        g0 = "n/a" if g.g2_zero is None else f"{g.g2_zero:.3f} ± {g.g2_zero_err:.3f}"
        p.set_title(f"g²(τ), g²(0) = {g0}")
    else:
        p.set_title("g²: not computed")
    p.set(xlabel="τ = t_B − t_A (ns)", ylabel="g² (normalised)")

    p = ax["decays"] = fig.add_subplot(gs[4, 0])
    q = ax["residuals"] = fig.add_subplot(gs[5, 0], sharex=p)
    k = _one_period(res)
    if res.decay.bin_ps:
        t_ns = res.decay.t_ps[:k] * 1e-3
        p.plot(t_ns, _positive(res.decay.counts[:k]), color="0.75", lw=0.8, label="total")
        for i, r in enumerate(res.regimes):
            c = COLORS[i % len(COLORS)]
            y = r.fitted_counts  # the cross-selected decay the fit uses (tagstream.results.RegimeResult)
            p.plot(t_ns, _positive(y[:k]), color=c, lw=0.8, label=f"{r.regime.display}: {int(y.sum()):,}")
            fit = r.fit
            if fit is not None and hasattr(fit, "model_counts"):
                m = min(k, fit.model_counts.size)
                p.plot(t_ns[:m], _positive(fit.model_counts[:m], 0.3), color=c, ls="--", lw=1.2)
                q.plot(t_ns[:m], fit.residuals[:m], color=c, lw=0.6)
        p.set_yscale("log")
        p.set(ylabel="counts per bin", title="decays per regime (dashed: fits)")
        p.legend(loc="upper right", fontsize=8)
        on = tr.on & np.isfinite(tr.lifetime_ns)
        if on.any() and res.decay.t0_ps is not None:
            tau = float(np.median(tr.lifetime_ns[on]))
            p.set_xlim(0, min(res.laser_period_ps * 1e-3, res.decay.t0_ps * 1e-3 + 8 * max(tau, 0.5)))
    q.axhline(0, color="0.5", lw=0.6)
    q.set(xlabel="time after the laser pulse (ns)", ylabel="deviance resid.")

    p = ax["histogram"] = fig.add_subplot(gs[4:6, 1])
    e = f.lifetime_edges_ns
    p.stairs(f.on_lifetime_hist, e, color="k", label="ON bins")
    for i, r in enumerate(res.regimes):
        p.axvspan(r.regime.lo_ns, r.regime.hi_ns, color=COLORS[i % len(COLORS)], alpha=0.18, label=r.regime.display)
    p.set(xlabel="average lifetime (ns)", ylabel="ON bins", title="lifetime histogram of ON bins")
    p.legend(loc="upper right", fontsize=8)

    if spectra:
        _draw_spectra(fig, gs, ax, a)
    if blink:
        _draw_blinking(fig, gs, ax, res, len(heights) - 1)
    return fig, ax


def _draw_blinking(fig, gs, ax, res, row: int) -> None:
    """Dwell-time histograms with the fitted power laws (log-log) and the 1 us - 10 s intensity correlation."""
    from tagstream.blinking.analysis import dwell_curves

    p = ax["dwells"] = fig.add_subplot(gs[row, 0])
    colors = {"on": COLORS[0], "grey": "0.5", "off": COLORS[1]}
    curves = dwell_curves(res)
    for name, (mid, dens, ft, fd, label) in curves.items():
        p.loglog(mid, dens, "o", ms=4, color=colors[name], label=label)
        if ft.size:
            p.loglog(ft, fd, "-", lw=1.3, color=colors[name])
    p.set(xlabel="dwell time (s)", ylabel="probability density (1/s)",
          title="dwell times, power-law MLE fits" if curves else "dwell times: needs --levels")
    if curves:
        p.legend(loc="lower left", fontsize=8)
    p = ax["correlation"] = fig.add_subplot(gs[row, 1])
    c = res.intensity_correlation
    if c is not None:
        ok = np.isfinite(c.g2)
        p.errorbar(c.lag_s[ok], c.g2[ok], yerr=c.g2_err[ok], fmt=".-", ms=3, lw=0.8, color="k", elinewidth=0.6)
        p.set_xscale("log")
        p.axhline(1.0, color="0.5", ls="--", lw=0.8)
    p.set(xlabel="lag τ (s)", ylabel="g²(τ), A × B", title="intensity correlation 1 µs – 10 s")


def _draw_spectra(fig, gs, ax, a) -> None:
    from tagstream.spectra import subtract_baseline, to_energy

    s, sp = a.series, a.spectra
    e, dens = to_energy(s.wavelength_nm, subtract_baseline(s.counts, s.baseline_adu))
    p = ax["waterfall"] = fig.add_subplot(gs[6, 0])
    if dens.size:
        lo, hi = np.percentile(dens, [1, 99.8])
        t = np.arange(s.n_frames) * s.cycle_time_s
        m = p.imshow(dens, aspect="auto", origin="lower", cmap="magma", vmin=lo, vmax=max(hi, lo + 1e-9),
                     extent=(float(e[0]), float(e[-1]), 0.0, float(t[-1] + s.cycle_time_s)), interpolation="nearest")
        ax["waterfall_colorbar"] = _colour_bar(fig, m, p, "counts per eV")
    p.set(xlabel="photon energy (eV)", ylabel="frame start (s)", title=f"EMCCD spectra ({s.n_frames} frames)")
    p = ax["spectra"] = fig.add_subplot(gs[6, 1], sharex=p)
    for i, (r, rs) in enumerate(zip(a.results.regimes, sp.spectra)):
        if rs is not None and rs.n_frames:
            p.plot(sp.energy_ev, rs.density, color=COLORS[i % len(COLORS)], lw=1.2,
                   label=f"{r.regime.display} ({rs.n_frames} frames)")
    if sp.trap is not None:
        p.plot(sp.trap.energy_ev, sp.trap.density_per_frame, color="k", ls="--", lw=1.5, label="trap (reconstructed)")
    p.set(xlabel="photon energy (eV)", ylabel="counts per eV per frame", title="spectrum per regime")
    if p.lines:
        p.legend(loc="upper right", fontsize=8)
    peaks = [rs.peak for rs in sp.spectra if rs is not None and rs.peak is not None and rs.peak.success]
    if peaks:
        lo = min(pk.peak_ev - 3 * pk.fwhm_ev for pk in peaks)
        hi = max(pk.peak_ev + 3 * pk.fwhm_ev for pk in peaks)
        p.set_xlim(lo, hi)


def _colour_bar(fig, mappable, p, label: str):
    """A colour bar right of axes p, its label clear of the tick numbers (with matplotlib's default pad
    the FLID's log-scale numbers reached 3.5 px into the label: tests/test_report.py)."""
    cb = fig.colorbar(mappable, ax=p, pad=0.01)
    cb.set_label(label, labelpad=8)
    return cb.ax


def _one_period(res) -> int:
    d, P = res.decay.bin_ps, res.laser_period_ps
    n = res.decay.t_ps.shape[0]
    return n if not d or not P else min(int(np.ceil(P / d)), n)


def _positive(y, floor: float = 0.0) -> np.ndarray:
    """For a log axis: empty bins (and model values below floor) are not drawn."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > floor, y, np.nan)


def render_report(a, path, *, overwrite: bool = False, size: tuple[int, int] = PAGE_PX) -> Path:
    """Write the one-page PNG report of the Analysis `a` to `path` (atomically); returns the path.
    ExportError if it exists (without overwrite), its folder is missing, or it cannot be drawn."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists; pass overwrite=True (--force) to replace it")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write the report: directory {path.parent} does not exist")
    why = report_unavailable()
    if why is not None:
        raise ExportError(f"cannot draw the report {path}: {why}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, _ = build_figure(a, size)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        try:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
        except OSError as exc:
            raise ExportError(f"could not write the report image to {path}: {exc}") from None
    return path
