"""Start the live window: `tagstream live` (tagstream.commands.live) or `python -m tagstream.app.main`."""

from __future__ import annotations

import sys


def run(*, replay: str | None = None, speed: float | None = None, start: bool = True, settings_path: str | None = None,
        theme: str = "dark") -> int:
    from PyQt6 import QtCore, QtWidgets

    from tagstream.app.theme import DARK, LIGHT
    from tagstream.app.window import MainWindow, apply_palette

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("tagstream live")
    th = LIGHT if theme == "light" else DARK
    apply_palette(app, th)
    settings = QtCore.QSettings(settings_path, QtCore.QSettings.Format.IniFormat) if settings_path else None
    win = MainWindow(settings=settings, theme=th, warm_engine=True)
    win.resize(1600, 1000)
    win.show()
    if replay:
        win.replay(replay, speed=speed)
    elif start:
        if speed is not None:
            win.speed.setValue(speed)
        win.start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run())
