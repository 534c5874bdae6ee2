"""Group intensity levels into a few states: agglomerative clustering + Bayesian information criterion.

Follows Watkins & Yang, J. Phys. Chem. B 109, 617 (2005) as implemented in Haw Yang's reference program
(PrincetonUniversity/OriginalChangePoint-Poisson, AHCluster.c and BICCluster.c), the scheme also used by
Full_SMS and by the CPA toolbox of Palstra & Koenderink, J. Phys. Chem. C 125, 12050 (2021):
- start with one group per level (n_i photons counted in duration T_i); repeatedly merge the two groups
  (any two, not only neighbours) whose merge loses the least Poisson log-likelihood,
  delta = n_a ln(n_a/T_a) + n_b ln(n_b/T_b) - n_ab ln(n_ab/T_ab);
- for each number of groups G, with level i assigned to group g(i) of intensity I_g = sum n / sum T:
  ln L_G = sum_i [n_i ln(I_g T_i) - I_g T_i - ln Gamma(n_i + 1)],
  BIC_1 = 2 ln L_1 - ln(N_levels),
  BIC_G = 2 ln L_G - (2G - 1) ln(d_G) - d_G ln(N_photons)  (d_G = transitions between groups along time);
- the number of states is the G with the largest BIC.
(The reference program evaluates ln L with EM-refined intensities; here the hard AHC assignment is used,
as in Full_SMS.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _ahc_labels(n, T, g_max):
    """Merge history: labels[G-1, i] = group (0..G-1, ordered by first member) of level i with G groups."""
    m = n.shape[0]
    gn = n.astype(np.float64).copy()
    gt = T.astype(np.float64).copy()
    alive = np.ones(m, dtype=np.bool_)
    owner = np.arange(m)                 # current group (index of its representative) of each level
    labels = np.zeros((min(g_max, m), m), dtype=np.int64)
    groups = m
    while True:
        if groups <= g_max:
            # record the assignment for this number of groups, groups numbered by first level
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
        bj = -1
        for i in range(m):
            if not alive[i]:
                continue
            fi = gn[i] * math.log(gn[i] / gt[i])
            for j in range(i + 1, m):
                if not alive[j]:
                    continue
                nij = gn[i] + gn[j]
                tij = gt[i] + gt[j]
                d = fi + gn[j] * math.log(gn[j] / gt[j]) - nij * math.log(nij / tij)
                if d < best:
                    best = d
                    bi = i
                    bj = j
        gn[bi] += gn[bj]
        gt[bi] += gt[bj]
        alive[bj] = False
        for i in range(m):
            if owner[i] == bj:
                owner[i] = bi
        groups -= 1
    return labels


@dataclass(frozen=True)
class Grouping:
    """Result of grouping levels into states.

    n_states: chosen number of states (largest BIC); labels: state of each level (0 = dimmest state);
    state_intensity_cps: intensity of each state (ascending); bic[G-1]: BIC for G states;
    all_labels[G-1]: level->state labels for G states (states ordered by intensity).
    """

    n_states: int
    labels: np.ndarray
    state_intensity_cps: np.ndarray
    bic: np.ndarray
    all_labels: np.ndarray


def _order_by_intensity(lab: np.ndarray, n: np.ndarray, T: np.ndarray, g: int):
    inten = np.array([n[lab == k].sum() / T[lab == k].sum() for k in range(g)])
    order = np.argsort(inten, kind="stable")
    rank = np.empty(g, dtype=np.int64)
    rank[order] = np.arange(g)
    return rank[lab], inten[order]


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
    all_labels = np.empty_like(raw)
    intens = []
    for g in range(1, g_max + 1):
        lab, inten = _order_by_intensity(raw[g - 1], n, T, g)
        all_labels[g - 1] = lab
        intens.append(inten)
        expected = inten[lab] * T
        ll = float(np.sum(n * np.log(expected) - expected - lgam))
        if g == 1:
            bic[0] = 2.0 * ll - math.log(n.size)
        else:
            d = int(np.count_nonzero(np.diff(lab)))
            bic[g - 1] = 2.0 * ll - (2 * g - 1) * math.log(max(d, 1)) - d * math.log(n_total)
    best = int(np.argmax(bic)) + 1
    return Grouping(best, all_labels[best - 1], intens[best - 1], bic, all_labels)
