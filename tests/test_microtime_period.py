"""The microtime kernel's block-wise period estimate (integer sums over two time buckets, one division per
block) against a slow pure-Python reference of the same algorithm (bit for bit), against the former
per-sync running mean (at least as accurate vs the true pulse times), chunking invariance (hypothesis),
and locality: a fresh state started two buckets before any time reaches the same state there."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tagstream.kernels import microtime as MK


def slow_reference(ts, ch, divider, nominal, shift, max_periods, memory):
    """Obvious per-record Python of the documented algorithm: returns (micro list, final P, unref counts)."""
    fdiv = float(divider)
    st = dict(P=nominal or 0.0, P0=nominal, I=0, n=0, I_prev=0, n_prev=0, blk=0, known=nominal is not None,
              B=math.floor(memory * nominal + 0.5) if nominal else 0, bucket=None, span_start=0, first_t=-math.inf,
              est_start=None)

    def refresh(t=None):
        w = st["n_prev"] + st["n"]
        P = (st["I_prev"] + st["I"]) / w if w > 0 else st["P0"]   # empty buckets: the first / nominal period
        st.update(P=P, W=w, inv=1.0 / P, lo=(fdiv - 0.25) * P, hi=(fdiv + 0.25) * P,
                  gap=min(max_periods, max(fdiv + 0.5, w / 8.0)) * P,
                  nmax=max(64.0 * fdiv, 0.0 if t is None else max(0.0, (t - max(st["span_start"], st["first_t"],
                                                                                 st["est_start"])) / P) / 8.0),
                  block=max(fdiv, min(MK.BLOCK_MAX_PULSES, w / 256.0, memory / 256.0)), blk=0)

    def enter_bucket(t):
        j = t // st["B"]
        if st["bucket"] is not None and j == st["bucket"] + 1:
            st.update(I_prev=st["I"], n_prev=st["n"], span_start=(j - 1) * st["B"])
        else:
            st.update(I_prev=0, n_prev=0, span_start=j * st["B"])
        st.update(I=0, n=0, bucket=j, blk=0)

    if st["known"]:
        refresh()
    last_sync = None
    micro, unref = [], [0, 0, 0]
    for t, c in zip(ts.tolist(), ch.tolist()):
        if c == 5:
            if st["est_start"] is None:
                st["est_start"] = t
            if st["B"] and (st["bucket"] is None or t // st["B"] > st["bucket"]):
                enter_bucket(t)
                if st["known"]:
                    refresh(t)
            if last_sync is not None:
                I = t - last_sync
                n = 0
                if not st["known"]:
                    if I > 0:
                        st.update(known=True, P0=I / fdiv, block=0.0, B=max(1, math.floor(memory * (I / fdiv) + 0.5)),
                                  first_t=t)
                        enter_bucket(t)
                        n = divider
                elif st["lo"] < I < st["hi"]:
                    n = divider
                elif I > 0:
                    npf = math.floor(I * st["inv"] + 0.5)
                    if 1 <= npf <= st["nmax"] and abs(I - npf * st["P"]) < 0.25 * st["P"]:
                        n = int(npf)
                if n > 0:
                    st["I"] += I
                    st["n"] += n
                    st["blk"] += n
                    if st["blk"] >= st["block"]:
                        refresh(t)
            last_sync = t
        elif c in (1, 2):
            if last_sync is None:
                unref[0] += 1; micro.append(-1)
            elif not st["known"]:
                unref[1] += 1; micro.append(-1)
            elif t - last_sync > st["gap"]:
                unref[2] += 1; micro.append(-1)
            else:
                x, P = t - last_sync + shift, st["P"]
                m = [x - math.floor(k * P + 0.5) for k in range(math.floor(x / P) - 2, math.floor(x / P) + 3)]
                micro.append(min(v for v in m if v >= 0))   # the delay after the last pulse at or before x
    return micro, st["P"], unref


def run_kernel(ts, ch, divider, nominal, shift, max_periods, memory, cuts=()):
    si, sf = MK.new_state(nominal, memory)
    counts = np.zeros(1 << 16, np.int64)
    outs = []
    for a, b in zip([0, *cuts], [*cuts, len(ts)]):
        n = b - a
        out = [np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.int64), np.empty(n, np.int64)]
        nph, _, bad = MK.reference_photons(ts[a:b], ch[a:b], 5, 1, 2, 3, divider, shift, shift, max_periods,
                                           memory, si, sf, counts, *out)
        assert bad == -1
        outs.append(out[2][:nph])
    return np.concatenate(outs), si, sf


def make_stream(seed, divider, n_sync, P, jitter_ps, drift=0.0, lost=0.0, photons_per_sync=4.0):
    """Syncs every divider pulses (jitter, drift, a fraction lost) and photons at random times; few
    photons per sync make long runs of usual records (the kernel's vectorised blocks)."""
    rng = np.random.default_rng(seed)
    k = np.arange(n_sync * divider)
    pulses = 1000 + k * P + drift * k ** 2
    sync = pulses[::divider] + rng.normal(0, jitter_ps, n_sync) if jitter_ps else pulses[::divider]
    sync = np.round(sync).astype(np.int64)
    keep = rng.random(n_sync) >= lost
    keep[:2] = True
    sync = sync[keep]
    ph = np.sort(rng.integers(0, int(pulses[-1]), int(photons_per_sync * n_sync)))
    ts = np.concatenate([sync, ph]).astype(np.int64)
    ch = np.concatenate([np.full(sync.size, 5), rng.integers(1, 3, ph.size)]).astype(np.uint16)
    o = np.argsort(ts, kind="stable")
    return ts[o], ch[o], pulses


@pytest.mark.parametrize("divider,nominal,memory,lost,per_sync", [
    (1, None, 1e6, 0.0, 4.0), (1, None, 300.0, 0.05, 4.0), (7, None, 1e6, 0.1, 4.0), (1000, None, 5e4, 0.0, 4.0),
    (1, 99_990.0, 1e6, 0.3, 4.0), (1, None, 1e6, 0.0, 0.04), (1, None, 2000.0, 0.002, 0.1),
    (1, 99_990.0, 1e6, 0.001, 0.3)])
def test_kernel_equals_slow_reference_bit_for_bit(divider, nominal, memory, lost, per_sync):
    n_sync = (3000 if per_sync > 1 else 40_000) // divider + 40
    ts, ch, _ = make_stream(divider, divider, n_sync, 100_000.37, 15.0, lost=lost, photons_per_sync=per_sync)
    mp = 1e5 if nominal else divider + 0.5
    micro, si, sf = run_kernel(ts, ch, divider, nominal, -123, mp, memory)
    ref, P_ref, unref = slow_reference(ts, ch, divider, nominal, -123, mp, memory)
    np.testing.assert_array_equal(micro, np.array(ref, np.int64))
    assert sf[MK.SF_PERIOD] == P_ref
    assert [si[MK.SI_UNREF_NOSYNC], si[MK.SI_UNREF_NOPERIOD], si[MK.SI_UNREF_GAP]] == unref


def old_running_mean(sync, divider, memory):
    """The former estimator: per-sync P <- (w P + I) / (w + n), w <- min(w + n, memory) (one division per sync)."""
    P = (sync[1] - sync[0]) / divider
    w = float(divider)
    out = [P]
    for I in np.diff(sync)[1:].tolist():
        n = math.floor(I / P + 0.5)
        if n >= 1 and abs(I - n * P) < 0.25 * P:
            P = (w * P + I) / (w + n)
            w = min(w + n, memory)
        out.append(P)
    return np.array(out)


@pytest.mark.parametrize("drift", [0.0, 2e-7])
def test_period_at_least_as_accurate_as_the_per_sync_running_mean(drift):
    """Dense sync (every pulse, 30 ps jitter), optionally drifting: the period used to reference each sync
    interval's photons, vs the true local period; the block estimate may lag 1/256 of its pulses, which
    must not make it worse than the per-sync running mean overall."""
    n, P, memory = 200_000, 12_500.0, 2e4
    ts, ch, pulses = make_stream(3, 1, n, P, 30.0, drift=drift)
    sync = ts[ch == 5]
    true_p = np.diff(pulses)[: n - 1]
    si, sf = MK.new_state(None)
    counts = np.zeros(1 << 16, np.int64)
    est = np.empty(n - 1)
    # the estimate in force after each sync: feed one sync at a time (the kernel is chunk-invariant)
    for i in range(n):
        MK.reference_photons(sync[i:i + 1], np.full(1, 5, np.uint16), 5, 1, 2, 3, 1, 0, 0, 1.5, memory, si, sf,
                             counts, *[np.empty(1, np.int64), np.empty(1, np.uint8), np.empty(1, np.int64),
                                       np.empty(1, np.int64)])
        if i >= 1:
            est[i - 1] = sf[MK.SF_PERIOD]
    old = old_running_mean(sync, 1, memory)
    skip = 2000   # both start from one interval; compare after they settle
    err_new = np.sqrt(np.mean((est[skip:] - true_p[skip:]) ** 2))
    err_old = np.sqrt(np.mean((old[skip:] - true_p[skip:]) ** 2))
    assert err_new <= 1.001 * err_old, (err_new, err_old)
    assert MK.current_period(si, sf) == pytest.approx(true_p[-1], abs=0.05 + 0.5 * drift * n)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_gives_identical_microtimes_and_state(data):
    divider = data.draw(st.sampled_from([1, 3, 100]))
    nominal = data.draw(st.sampled_from([None, 100_010.0]))
    ts, ch, _ = make_stream(data.draw(st.integers(0, 5)), divider, 6000 // divider + 20, 100_000.37, 10.0,
                            lost=data.draw(st.sampled_from([0.0, 0.2, 0.003])),
                            photons_per_sync=data.draw(st.sampled_from([4.0, 0.05])))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(ts) - 1), max_size=12))))
    mp = 1e5 if nominal else divider + 0.5
    m1, si1, sf1 = run_kernel(ts, ch, divider, nominal, 0, mp, 500.0)
    m2, si2, sf2 = run_kernel(ts, ch, divider, nominal, 0, mp, 500.0, cuts)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(si1, si2)
    np.testing.assert_array_equal(sf1, sf2)
