"""Which views to redraw on one GUI tick, so drawing never starves the status line and input.

The GUI thread has one fixed-rate timer (tagstream.app.controller). On each tick it takes the newest
snapshot bundle and asks RedrawScheduler.plan() which views to draw from it:
- views that are not visible (closed or tabbed-away docks) are never drawn; they are drawn as soon as
  they are shown again (they are stale then);
- the FAST views (intensity and lifetime traces, the ones watched while aligning) are drawn for every
  new bundle, at most every cost / duty_fast seconds;
- the slow ones (g2, FLID, histogram, decays, spectra, ...) at most every max(slow_period_s,
  cost / duty_slow) seconds, oldest first, while the tick's budget (budget_s, the fast views' cost
  included: one event-loop pass stays short, so timers and input wait little) lasts. One overdue
  view is drawn even over budget, so none starves.
A view's cost is its measured update() time plus the measured paint time of its panel (painted()),
so no panel takes more than its duty of the GUI thread whatever the machine.
"""

from __future__ import annotations

FAST = frozenset({"intensity", "lifetime", "levels"})


class RedrawScheduler:
    def __init__(self, *, budget_s: float = 0.015, slow_period_s: float = 0.25, duty_slow: float = 0.05,
                 duty_fast: float = 0.3) -> None:
        self.budget_s, self.slow_period_s = budget_s, slow_period_s
        self.duty_slow, self.duty_fast = duty_slow, duty_fast
        self.cost_s: dict[str, float] = {}      # running mean update() time per view
        self.paint_s: dict[str, float] = {}     # running mean paint time per panel
        self.panel_of: dict[str, str] = {}      # view -> panel (several views may share one; default: itself)
        self.shown_seq: dict[str, int] = {}     # bundle seq each view shows
        self.shown_at: dict[str, float] = {}    # when each view was last drawn (monotonic s)

    def reset(self) -> None:
        """A new session: every view is stale."""
        self.shown_seq.clear()
        self.shown_at.clear()

    def cost(self, name: str) -> float:
        return self.cost_s.get(name, 0.0) + self.paint_s.get(self.panel_of.get(name, name), 0.0)

    def painted(self, panel: str, dt_s: float) -> None:
        old = self.paint_s.get(panel)
        self.paint_s[panel] = dt_s if old is None else 0.7 * old + 0.3 * dt_s

    def period_s(self, name: str) -> float:
        c = self.cost(name)
        if name in FAST:
            return c / self.duty_fast
        return max(self.slow_period_s, c / self.duty_slow)

    def stale(self, names, seq: int, visible) -> list[str]:
        return [n for n in names if visible(n) and self.shown_seq.get(n) != seq]

    def plan(self, names, seq: int, now: float, visible, *, everything: bool = False) -> list[str]:
        """Views to draw from bundle `seq` now (fast ones first). everything: all stale visible views
        (nothing competes for the GUI thread, e.g. after Stop)."""
        stale = self.stale(names, seq, visible)
        if everything:
            return sorted(stale, key=lambda n: n not in FAST)
        due = [n for n in stale if now - self.shown_at.get(n, -1e9) >= self.period_s(n)]
        out = [n for n in due if n in FAST]
        spent = sum(self.cost(n) for n in out)  # the fast ones are always drawn; slow ones fill the rest
        slow = sorted((n for n in due if n not in FAST), key=lambda n: self.shown_at.get(n, -1e9))
        for n in slow:
            c = self.cost(n)
            overdue = now - self.shown_at.get(n, -1e9) >= 4 * self.period_s(n)
            if spent + c <= self.budget_s or (overdue and not any(m not in FAST for m in out)):
                out.append(n)
                spent += c
        return out

    def drawn(self, name: str, seq: int, now: float, cost_s: float) -> None:
        old = self.cost_s.get(name)
        self.cost_s[name] = cost_s if old is None else 0.7 * old + 0.3 * cost_s
        self.shown_seq[name] = seq
        self.shown_at[name] = now

    def complete(self, names, seq: int, visible) -> bool:
        """Every visible view shows bundle `seq`."""
        return not self.stale(names, seq, visible)
