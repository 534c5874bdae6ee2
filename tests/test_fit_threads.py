"""The fits as the live app runs them in a thread: a fit another thread abandons stops with Cancelled
(tagstream.analysis.cancel), and after a fit BLAS runs on one thread (tagstream.analysis.blas)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tagstream.analysis import IRF, decay_model_counts, fit_decay
from tagstream.analysis.blas import one_blas_thread
from tagstream.analysis.cancel import Cancelled, cancellable, check

T_PS, W_PS = 1_000_000, 4000
T_BINS = np.arange(0, T_PS, W_PS, dtype=np.int64)
IRF_G = IRF.gaussian(500.0, shift_ps=20_000.0)


def histogram(seed: int = 1) -> np.ndarray:
    mu = decay_model_counts(T_BINS, T_PS, {"n_photons": 1.0, "tau_ns": 35.0, "bg_per_bin": 0.002}, "single", irf=IRF_G)
    return np.random.default_rng(seed).multinomial(10_000, mu / mu.sum())


def test_a_cancelled_fit_raises_cancelled_and_an_unregistered_thread_is_untouched():
    counts = histogram()
    ref = fit_decay(T_BINS, counts, T_PS, "single", irf=IRF_G)
    ev = threading.Event()
    with cancellable(ev):
        assert fit_decay(T_BINS, counts, T_PS, "single", irf=IRF_G).params == ref.params   # not set: no effect
        ev.set()
        with pytest.raises(Cancelled):
            fit_decay(T_BINS, counts, T_PS, "single", irf=IRF_G)
    check()                                  # outside the block: nothing registered, nothing raised
    # another thread's cancellation does not touch this one
    got = {}

    def other():
        with cancellable(threading.Event()) as mine:
            mine.set()
            try:
                check()
            except Cancelled:
                got["cancelled"] = True

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert got == {"cancelled": True}
    assert fit_decay(T_BINS, counts, T_PS, "single", irf=IRF_G).params == ref.params


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_after_a_fit_blas_runs_on_one_thread():
    pytest.importorskip("threadpoolctl")
    fit_decay(T_BINS, histogram(2), T_PS, "single", irf=IRF_G)
    assert set(_blas_threads()) == {1}
    one_blas_thread()                         # once per process: nothing more
    assert set(_blas_threads()) == {1}
