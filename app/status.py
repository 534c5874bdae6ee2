"""What the toolbar says about the acquisition: state, recording, data loss, per-channel rate meters.

Pure formatting of a tagstream.sources.LiveStatus (plus the window's state: running / stopped /
finished) into short, unmistakable texts; the widgets only show them.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtWidgets

RED, ORANGE, GREEN = "#ff5c5c", "#f0a030", "#3fa34d"
PILEUP_FRACTION = 0.05   # detections per laser pulse above which TCSPC pile-up distorts the decay


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n} B"


def human_rate(hz: float) -> str:
    if hz >= 1e6:
        return f"{hz / 1e6:.2f} M/s"
    if hz >= 1e3:
        return f"{hz / 1e3:.1f} k/s"
    return f"{hz:.0f} /s"


def mmss(seconds: float) -> str:
    s = int(max(seconds, 0.0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def state_text(st, state: str) -> str:
    """'● running 00:23 · 1,234 tags' / '■ finished 00:31 · …' / '■ stopped …'; state: the window's."""
    mark = "●" if state == "running" else "■"
    return f"{mark} {state} {mmss(st.elapsed_s)} · {st.tags_acquired:,} tags"


def rec_text(st, state: str) -> tuple[str, str]:
    """(text, colour) of the recording indicator: '● REC 00:23, 1.6 MB' only while it records."""
    if not st.recording_path:
        return "not recording", ""
    name = Path(st.recording_path).name
    if st.recording_error:
        return f"REC FAILED ({name}): {st.recording_error}", RED
    if state == "running":
        return f"● REC {mmss(st.elapsed_s)}, {human_bytes(st.recording_bytes)}", RED
    return f"recorded {name}, {human_bytes(st.recording_bytes)}", ""


def loss_text(st) -> tuple[str, str]:
    lost = st.data_lost or st.data_loss_events or st.overflow_count
    if not lost:
        return "no data loss", ""
    n = max(st.data_loss_events, st.overflow_count, 1)
    return f"DATA LOST ({n} event{'s' if n != 1 else ''})", RED


class RateMeters(QtWidgets.QWidget):
    """One meter per channel: name, rate and a bar on a log scale up to the detector's saturation rate;
    orange when a SPAD passes PILEUP_FRACTION of the laser rate (pile-up), red from 80 % of saturation."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.lay = QtWidgets.QHBoxLayout(self)
        self.lay.setContentsMargins(4, 0, 4, 0)
        self.lay.setSpacing(4)
        self.labels: dict[int, QtWidgets.QLabel] = {}
        self._style: dict[int, str] = {}
        self.warnings: list[str] = []

    def text(self) -> str:
        return "  ".join(lab.text() for lab in self.labels.values())

    def update_rates(self, rate_hz: dict, names: dict, *, spads=(), saturation_hz: float = 10e6,
                     laser_hz: float | None = None) -> None:
        """rate_hz: channel -> tags/s; names: channel -> role; spads: the detector channels."""
        self.warnings = []
        for ch in sorted(set(rate_hz) | set(names)):
            lab = self.labels.get(ch)
            if lab is None:
                lab = QtWidgets.QLabel()
                lab.setMinimumWidth(120)
                self.lay.addWidget(lab)
                self.labels[ch] = lab
            hz = float(rate_hz.get(ch, 0.0))
            colour, tip = GREEN, f"channel {ch} ({names.get(ch, '?')}): {human_rate(hz)}"
            if ch in spads:
                if hz >= 0.8 * saturation_hz:
                    colour = RED
                    self.warnings.append(f"ch{ch} at {hz / saturation_hz:.0%} of the detector's saturation rate")
                elif laser_hz and hz >= PILEUP_FRACTION * laser_hz:
                    colour = ORANGE
                    self.warnings.append(f"ch{ch}: {hz / laser_hz:.1%} detections per laser pulse (pile-up)")
                tip += f"; saturation {human_rate(saturation_hz)}" + (f", laser {human_rate(laser_hz)}" if laser_hz else "")
            import math

            frac = 0.0 if hz <= 1e3 else min(1.0, math.log10(hz / 1e3) / max(math.log10(saturation_hz / 1e3), 1e-9))
            f = round(frac * 50) / 50
            style = (f"QLabel {{ padding: 1px 4px; border-radius: 2px; color: white; background: qlineargradient("
                     f"x1:0, y1:0, x2:1, y2:0, stop:0 {colour}, stop:{f:.2f} {colour}, stop:{min(f + 0.001, 1):.3f} "
                     f"#262b33, stop:1 #262b33); }}")
            if self._style.get(ch) != style:
                lab.setStyleSheet(style)
                self._style[ch] = style
            text = f"ch{ch} {names.get(ch, '')} {human_rate(hz)}".replace("  ", " ")
            if lab.text() != text:
                lab.setText(text)
            lab.setToolTip(tip)


def set_label(lab: QtWidgets.QLabel, text: str, colour: str = "", bold: bool = False) -> None:
    """Only touch the widget when something changed (restyling costs a relayout)."""
    if lab.text() != text:
        lab.setText(text)
    style = (f"color: {colour};" if colour else "") + (" font-weight: bold;" if bold else "")
    if lab.styleSheet() != style:
        lab.setStyleSheet(style)


class WheelGuard(QtCore.QObject):
    """Spin boxes and combo boxes ignore the mouse wheel unless they have the focus (clicked): scrolling
    the controls panel must not change a setting under the pointer. The wheel scrolls the panel instead."""

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt)
        if ev.type() == QtCore.QEvent.Type.Wheel and not obj.hasFocus():
            parent = obj.parentWidget()
            if parent is not None:
                QtCore.QCoreApplication.sendEvent(parent, ev)
            return True
        return False

    def guard(self, root: QtWidgets.QWidget) -> None:
        for w in root.findChildren(QtWidgets.QAbstractSpinBox) + root.findChildren(QtWidgets.QComboBox):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(self)
