"""The error tagstream quotes for a fitted lifetime or trap fraction: ONE definition for the text output,
--json / regime_fits.parquet, the PNG report and the live app's fit table.

    q = quote(value, cov_err, interval, success=..., profiled=...)
    q.text(" ns")          # '35.73 +0.79 -0.88 ns (68 % profile; covariance 1-sigma 0.83)'
    q.fields("tau_be", "_ns")   # tau_be_ns, tau_be_err_minus_ns, tau_be_err_plus_ns, tau_be_err_kind,
                                # tau_be_cov_err_ns

kind:
  "profile"     the profile-likelihood 68 % interval (Delta deviance = 1, the rest re-fitted): the default.
                Over simulator seeds its pulls are calibrated (bench/bench_fit_pulls.py), the covariance
                1-sigma's are not (the likelihood of the lifetimes is skewed and the fast component's
                lifetime ridge makes the Fisher information overstate the precision).
  "upper_limit" the value sits on its lower bound (a trap fraction at 0: the fit wants no trap photons there):
                the profile-likelihood interval is one-sided, [0, hi] (Delta deviance = 1 at hi); err_minus 0,
                err_plus = hi. "lower_limit": the same at the upper bound (a fraction at 1), [lo, 1]
  "covariance"  inverse Fisher information 1-sigma, where the intervals were not computed
                (--no-profile-intervals, the live app while acquiring, a per-regime fit)
  "fixed"       held by the model (a band-edge-only regime's trap fraction 0): no error
  "none"        no error: the fit failed, the interval is undetermined or the parameter sits on a bound
                (`why` says which); no number is then quoted as an error
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("profile", "upper_limit", "lower_limit", "covariance", "fixed", "none")


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


@dataclass(frozen=True)
class Quoted:
    """value with its quoted error as (minus, plus) distances to the interval's edges (both >= 0);
    cov_err: the covariance 1-sigma (kept for comparison; None where there is none)."""

    value: float | None
    minus: float | None
    plus: float | None
    kind: str
    cov_err: float | None
    why: str = ""

    def text(self, unit: str = "", fmt: str = ".2f", scale: float = 1.0, *, unicode: bool = False,
             short: bool = False) -> str:
        """'35.73 +0.79 -0.88 ns (68 % profile; covariance 1-sigma 0.83)', '35.73 +- 0.83 ns (covariance
        1-sigma)', '0.0 % (band edge only)', '35.73 ns (no error bar: fit failed)'. short: no parenthesis
        (a table cell). unicode: − and ± (report, app)."""
        if self.value is None:
            return "—" if unicode else "n/a"
        f = lambda x: f"{scale * x:{fmt}}"  # noqa: E731
        minus, pm, sig = ("−", "±", "σ") if unicode else ("-", "+-", "1-sigma")
        v = f(self.value)
        if self.kind == "profile":
            s = f"{v} +{f(self.plus)} {minus}{f(self.minus)}{unit}"
            cov = f"; covariance {sig} {f(self.cov_err)}" if _finite(self.cov_err) else ""
            return s if short else f"{s} (68 % profile{cov})"
        if self.kind in ("upper_limit", "lower_limit"):
            s = f"{v} +{f(self.plus)}{unit}" if self.kind == "upper_limit" else f"{v} {minus}{f(self.minus)}{unit}"
            return s if short else f"{s} (68 % profile {self.kind.replace('_', ' ')}: at its bound)"
        if self.kind == "covariance":
            s = f"{v} {pm} {f(self.plus)}{unit}"
            return s if short else f"{s} (covariance {sig})"
        if self.kind == "fixed":
            return f"{v}{unit}" + ("" if short else f" ({self.why or 'fixed'})")
        return f"{v}{unit} (no error bar" + (")" if short else f": {self.why})")

    def fields(self, stem: str, unit: str = "") -> dict:
        """The flat JSON / Parquet numbers: <stem><unit>, <stem>_err_minus<unit>, <stem>_err_plus<unit>,
        <stem>_err_kind, <stem>_cov_err<unit> (None where not available)."""
        return {f"{stem}{unit}": self.value, f"{stem}_err_minus{unit}": self.minus,
                f"{stem}_err_plus{unit}": self.plus, f"{stem}_err_kind": None if self.value is None else self.kind,
                f"{stem}_cov_err{unit}": self.cov_err}

    @staticmethod
    def field_names(stem: str, unit: str = "") -> tuple[str, ...]:
        return tuple(Quoted(None, None, None, "none", None).fields(stem, unit))


NOT_FITTED = Quoted(None, None, None, "none", None, "not fitted")


def quote(value, cov_err, interval, *, success: bool, profiled: bool, fixed: str | None = None,
          bounds: tuple[float, float] | None = None) -> Quoted:
    """The quoted error of a fitted value. interval: its profile-likelihood 68 % (lo, hi) or None;
    profiled: intervals were asked for (then a missing one means undetermined, not skipped);
    fixed: the value is held by the model (why, e.g. "band edge only"); bounds: the value's allowed range
    (a value on a bound with the interval ending there: an upper / lower limit)."""
    if not _finite(value):
        return NOT_FITTED
    value = float(value)
    cov = float(cov_err) if _finite(cov_err) else None
    if fixed is not None:
        return Quoted(value, 0.0, 0.0, "fixed", None, fixed)
    if not success:
        return Quoted(value, None, None, "none", cov, "fit failed")
    if interval is not None and _finite(interval[0]) and _finite(interval[1]):
        lo, hi = float(interval[0]), float(interval[1])
        kind = "profile"
        if bounds is not None and value <= bounds[0] and lo <= bounds[0] < hi:
            kind = "upper_limit"
        elif bounds is not None and value >= bounds[1] and hi >= bounds[1] > lo:
            kind = "lower_limit"
        return Quoted(value, max(value - lo, 0.0), max(hi - value, 0.0), kind, cov)
    if profiled:
        return Quoted(value, None, None, "none", cov, "profile interval undetermined")
    if cov is None:
        return Quoted(value, None, None, "none", None, "not determined by the data (at a bound or singular)")
    return Quoted(value, cov, cov, "covariance", cov)


def pull(q: Quoted, truth: float, *, covariance: bool = False) -> float:
    """(value - truth) / error, the error being the quoted interval's half on the truth's side
    (covariance=True: the covariance 1-sigma); nan without one."""
    if q.value is None or q.kind in ("none", "fixed"):
        return math.nan
    if covariance:
        e = q.cov_err
    else:
        e = q.plus if truth > q.value else q.minus
    return (q.value - truth) / e if _finite(e) and e > 0 else math.nan
