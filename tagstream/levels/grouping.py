"""Group intensity levels into a few states: agglomerative clustering, EM refinement, Bayesian information criterion.

Watkins & Yang, J. Phys. Chem. B 109, 617 (2005), as in Haw Yang's reference program
(PrincetonUniversity/OriginalChangePoint-Poisson: AHCluster.c, EMCluster.c, BICCluster.c):
- AHC: start with one group per level (n_i photon intervals in duration T_i); repeatedly merge the two groups
  (any two, not only neighbours) whose merge loses the least Poisson log-likelihood,
  delta = n_a ln(n_a/T_a) + n_b ln(n_b/T_b) - n_ab ln(n_ab/T_ab). This gives a starting assignment for each
  number of groups G.
- EM: from that assignment, fit the Poisson mixture over levels
  L_G = prod_i sum_k w_k Poisson(n_i | I_k T_i)
  (M-step: I_k = sum_i r_ik n_i / sum_i r_ik T_i, w_k = mean_i r_ik; E-step: r_ik = posterior of state k);
  each level is then classified into its most probable state (the reference's C-step).
- BIC_1 = 2 ln L_1 - ln(N_levels); BIC_G = 2 ln L_G - (2G - 1) ln(d_G) - d_G ln(N_photons), with d_G the
  transitions between states along time; the number of states is the G with the largest BIC.

What is maximised, and why it matters: ln L_G is the *mixture* log-likelihood that EM maximises. Evaluating
instead the classification likelihood (each level at its own group's intensity, hard assignment) rewards
splitting one state: the best split of m levels of equal intensity gains ~0.6 m in 2 ln L (the Poisson scatter
of their intensities), more than the (2G - 1) ln d penalty once a state has tens of levels, so ON splits into
two or three "states". The mixture likelihood of a homogeneous state gains only O(1) from an extra component.
(The reference program evaluates its BIC with the EM intensities of the classified levels, i.e. a classification
likelihood, and its mixing weights are the states' time fractions; we use the ML update of the weights so that
EM increases exactly the likelihood the BIC uses.) The photon-by-photon likelihood of level i at intensity I is
I^n_i exp(-I T_i) = Poisson(n_i | I T_i) n_i! / T_i^n_i: the factor is the same for every state, so the mixture
over photon-level data differs from the count mixture by a constant and gives the same BIC differences.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numba import njit

EM_MAX_ITER = 1000      # slowly converging fits have nearly coincident components; after 1000 steps their
                        # ln L is within ~0.05 of the limit (2600 levels, 10 states), BIC differences that matter are >> 1
EM_TOL = 1e-9           # relative change of ln L that ends EM (BIC differences that matter are >> 1e-3)


@njit(nogil=True, cache=True)
def _merge_cost(fi, fj, nij, tij):
    """delta with f = n ln(n / T) of each group (one log per pair)."""
    return fi + fj - nij * math.log(nij / tij)


@njit(nogil=True, cache=True)
def _best_partner(i, gn, gt, gf, alive, m):
    best = np.inf
    bj = -1
    for j in range(m):
        if j == i or not alive[j]:
            continue
        d = _merge_cost(gf[i], gf[j], gn[i] + gn[j], gt[i] + gt[j])
        if d < best:
            best = d
            bj = j
    return best, bj


@njit(nogil=True, cache=True)
def _ahc_labels(n, T, g_max):
    """Merge history: labels[G-1, i] = group (0..G-1, ordered by first member) of level i with G groups.

    Each step merges the pair with the smallest cost (ties: smallest i, then j, as a full pair scan). Every
    group caches its cheapest partner; after a merge only the merged group and groups whose partner vanished
    are rescanned, so a run costs ~O(m^2) instead of O(m^3)."""
    m = n.shape[0]
    gn = n.astype(np.float64).copy()
    gt = T.astype(np.float64).copy()
    gf = gn * np.log(gn / gt)
    alive = np.ones(m, dtype=np.bool_)
    owner = np.arange(m)
    labels = np.zeros((min(g_max, m), m), dtype=np.int64)
    bd = np.full(m, np.inf)
    bp = np.full(m, -1, dtype=np.int64)
    for i in range(m):
        bd[i], bp[i] = _best_partner(i, gn, gt, gf, alive, m)
    groups = m
    while True:
        if groups <= g_max:
            lab = np.full(m, -1, dtype=np.int64)
            nxt = 0
            for i in range(m):
                r = owner[i]
                if lab[r] < 0:
                    lab[r] = nxt
                    nxt += 1
            for i in range(m):
                labels[groups - 1, i] = lab[owner[i]]
        if groups == 1:
            break
        best = np.inf
        bi = -1
        for i in range(m):                     # pair (min(i, p), max(i, p)); ties like a full i<j scan
            if alive[i] and bd[i] < best:
                best = bd[i]
                bi = i
            elif alive[i] and bd[i] == best and min(i, bp[i]) < min(bi, bp[bi]):
                bi = i
        a = min(bi, bp[bi])
        b = max(bi, bp[bi])
        gn[a] += gn[b]
        gt[a] += gt[b]
        gf[a] = gn[a] * math.log(gn[a] / gt[a])
        alive[b] = False
        for i in range(m):
            if owner[i] == b:
                owner[i] = a
        groups -= 1
        if groups == 1:
            continue
        for k in range(m):
            if not alive[k]:
                continue
            if k == a or bp[k] == a or bp[k] == b:
                bd[k], bp[k] = _best_partner(k, gn, gt, gf, alive, m)
            else:
                d = _merge_cost(gf[k], gf[a], gn[k] + gn[a], gt[k] + gt[a])
                if d < bd[k] or (d == bd[k] and a < bp[k]):
                    bd[k] = d
                    bp[k] = a
    return labels


@njit(nogil=True, cache=True)
def _em_poisson_mixture(n, T, lgam, labels, g, max_iter, tol):
    """EM for the Poisson mixture over levels, started from hard labels (0..g-1).

    Returns (ln L, intensity[g], weight[g], most probable state per level, iterations)."""
    m = n.shape[0]
    r = np.zeros((m, g))
    for i in range(m):
        r[i, labels[i]] = 1.0
    y = np.zeros(g)
    w = np.zeros(g)
    lp = np.zeros(g)
    lw = np.zeros(g)
    ly = np.zeros(g)
    const = n * np.log(T) - lgam
    cls = np.zeros(m, dtype=np.int64)
    ll = -np.inf
    it = 0
    while it < max_iter:
        it += 1
        for k in range(g):                                   # M-step
            nk = 0.0
            tk = 0.0
            rk = 0.0
            for i in range(m):
                nk += r[i, k] * n[i]
                tk += r[i, k] * T[i]
                rk += r[i, k]
            y[k] = nk / tk if tk > 0.0 else 0.0
            w[k] = rk / m
        for k in range(g):
            lw[k] = math.log(w[k]) if (w[k] > 0.0 and y[k] > 0.0) else -np.inf
            ly[k] = math.log(y[k]) if y[k] > 0.0 else 0.0
        new = 0.0
        for i in range(m):                                   # E-step (n ln T - ln n! added below)
            mx = -np.inf
            for k in range(g):
                lp[k] = lw[k] + n[i] * ly[k] - y[k] * T[i] if lw[k] > -np.inf else -np.inf
                if lp[k] > mx:
                    mx = lp[k]
                    cls[i] = k
            s = 0.0
            for k in range(g):
                lp[k] = math.exp(lp[k] - mx)
                s += lp[k]
            for k in range(g):
                r[i, k] = lp[k] / s
            new += mx + math.log(s) + const[i]
        done = abs(new - ll) <= tol * (1.0 + abs(new))
        ll = new
        if done:
            break
    return ll, y, w, cls, it


@dataclass(frozen=True)
class Grouping:
    """Result of grouping levels into states.

    n_states: chosen number of states (largest BIC, or the override); labels: state of each level
    (0 = dimmest state); state_intensity_cps: EM intensity of each state (ascending); bic[G-1]: BIC for G
    mixture components; log_likelihood[G-1]: their EM mixture ln L; all_labels[G-1]: level -> state labels
    with G components, all_intensity_cps[G-1]: the matching state intensities. With G components EM may leave
    a component that is no level's most probable state: such states are dropped from labels/intensities,
    so all_intensity_cps[G-1] can have fewer than G entries.
    """

    n_states: int
    labels: np.ndarray
    state_intensity_cps: np.ndarray
    bic: np.ndarray
    all_labels: np.ndarray
    log_likelihood: np.ndarray | None = None
    all_intensity_cps: tuple = ()
    all_weight: tuple = ()         # mixture weight of each state in all_intensity_cps

    def with_n_states(self, n_states: int) -> "Grouping":
        """The same grouping with n_states components (capped at the number available)."""
        g = int(min(max(n_states, 1), self.all_labels.shape[0]))
        inten = self.all_intensity_cps[g - 1]
        return Grouping(int(inten.size), self.all_labels[g - 1], inten, self.bic, self.all_labels,
                        self.log_likelihood, self.all_intensity_cps, self.all_weight)


def _compact_by_intensity(cls: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Labels renumbered 0.. over the used states in ascending intensity; their intensities and weights."""
    used = np.unique(cls)
    order = used[np.argsort(y[used], kind="stable")]
    rank = np.full(y.size, -1, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank[cls], y[order], w[order]


def group_levels(n_photons, duration_s, max_states: int = 10) -> Grouping:
    """Group levels (n_photons counted in duration_s each) into states, choosing their number by BIC."""
    n = np.asarray(n_photons, dtype=np.float64)
    T = np.asarray(duration_s, dtype=np.float64)
    if n.ndim != 1 or n.shape != T.shape or n.size == 0:
        raise ValueError("n_photons and duration_s must be 1-D arrays of equal, non-zero length")
    if np.any(n <= 0) or np.any(T <= 0):
        raise ValueError("every level needs at least one photon and a positive duration")
    g_max = int(min(max_states, n.size))
    raw = _ahc_labels(n, T, g_max)
    n_total = n.sum()
    lgam = np.array([math.lgamma(x + 1.0) for x in n])
    bic = np.empty(g_max)
    lls = np.empty(g_max)
    all_labels = np.empty_like(raw)
    intens, weights = [], []
    for g in range(1, g_max + 1):
        ll, y, w, cls, _ = _em_poisson_mixture(n, T, lgam, raw[g - 1], g, EM_MAX_ITER, EM_TOL)
        lab, inten, wk = _compact_by_intensity(cls, y, w)
        weights.append(wk)
        all_labels[g - 1] = lab
        intens.append(inten)
        lls[g - 1] = ll
        if g == 1:
            bic[0] = 2.0 * ll - math.log(n.size)
        else:
            d = int(np.count_nonzero(np.diff(lab)))
            bic[g - 1] = 2.0 * ll - (2 * g - 1) * math.log(max(d, 1)) - d * math.log(n_total)
    best = int(np.argmax(bic)) + 1
    return Grouping(int(intens[best - 1].size), all_labels[best - 1], intens[best - 1], bic, all_labels, lls,
                    tuple(intens), tuple(weights))


def _most_probable_state(n: float, T: float, inten: np.ndarray, w: np.ndarray) -> int:
    with np.errstate(divide="ignore"):
        return int(np.argmax(np.log(w) + n * np.log(inten * T) - inten * T))


def extend_grouping(grp: Grouping, n_photons, duration_s) -> Grouping:
    """grp with more levels appended (a live snapshot's newest and provisional levels), each put in its most
    probable state of each mixture; the mixtures themselves (intensities, weights, BIC) stay those of grp."""
    n_new = np.atleast_1d(np.asarray(n_photons, dtype=np.float64))
    t_new = np.atleast_1d(np.asarray(duration_s, dtype=np.float64))
    cols = np.array([[_most_probable_state(float(x), float(t), i, w) for x, t in zip(n_new, t_new)]
                     for i, w in zip(grp.all_intensity_cps, grp.all_weight)], dtype=np.int64)
    all_labels = np.concatenate([grp.all_labels, cols.reshape(grp.all_labels.shape[0], n_new.size)], axis=1)
    k = next(j for j in range(grp.all_labels.shape[0]) if np.array_equal(grp.all_labels[j], grp.labels)
             and np.array_equal(grp.all_intensity_cps[j], grp.state_intensity_cps))
    return Grouping(grp.n_states, all_labels[k], grp.state_intensity_cps, grp.bic, all_labels, grp.log_likelihood,
                    grp.all_intensity_cps, grp.all_weight)


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def group_levels_cached(n_photons, duration_s, max_states: int = 10) -> Grouping:
    """group_levels, remembered for the last few sets of levels (live snapshots regroup the same closed levels
    until a new change point is accepted; reselect re-derives the same levels)."""
    n = np.ascontiguousarray(n_photons, dtype=np.float64)
    T = np.ascontiguousarray(duration_s, dtype=np.float64)
    key = (n.tobytes(), T.tobytes(), int(max_states))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    grp = group_levels(n, T, max_states)
    with _CACHE_LOCK:
        _CACHE[key] = grp
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return grp


_LIVE: dict = {}                 # max_states -> (n, T, Grouping) of the last live regrouping
REGROUP_GROWTH = 0.02


def group_levels_live(n_photons, duration_s, n_closed: int, max_states: int = 10,
                      regroup_growth: float = REGROUP_GROWTH) -> Grouping:
    """Grouping for a live snapshot: the first n_closed levels (final) are grouped, the rest (provisional) put
    in their most probable states. Grouping m levels costs ~O(m^2) (about 1 s at 2600 levels), and every
    accepted change point closes a level, so the last grouping is reused while the closed levels only grew
    (same prefix) by at most regroup_growth (2 %): the new levels are classified by its mixtures. Final results
    (and reselect) use group_levels_cached on all levels."""
    n = np.ascontiguousarray(n_photons, dtype=np.float64)
    T = np.ascontiguousarray(duration_s, dtype=np.float64)
    with _CACHE_LOCK:
        last = _LIVE.get(int(max_states))
    if last is not None:
        pn, pt, grp = last
        k = pn.size
        if k <= n_closed <= k + regroup_growth * k and np.array_equal(n[:k], pn) and np.array_equal(T[:k], pt):
            return extend_grouping(grp, n[k:], T[k:]) if n.size > k else grp
    grp = group_levels_cached(n[:n_closed], T[:n_closed], max_states)
    with _CACHE_LOCK:
        _LIVE[int(max_states)] = (n[:n_closed].copy(), T[:n_closed].copy(), grp)
    return extend_grouping(grp, n[n_closed:], T[n_closed:]) if n.size > n_closed else grp
