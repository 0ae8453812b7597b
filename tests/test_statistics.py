("radllm.statistics (and the fold and threshold protocol of radllm.evaluation): DeLong against a direct computation, "
 "thresholds, metrics, cluster bootstrap, McNemar.")
import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from radllm.evaluation import grouped_folds, oof_predict_proba
from radllm.statistics import (choose_threshold, cluster_bootstrap_ci,
                               delong_ci, delong_cov, delong_test, mcnemar_test,
                               metrics_with_ci)


# ---------------------------------------------------------------- DeLong, slow and direct
def psi(x, y):
    return 1.0 if x > y else 0.5 if x == y else 0.0


def slow_delong(y, scores):
    "AUCs and covariance by definition: placement values from explicit double loops over malignant x benign pairs."
    y = np.asarray(y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n, k = len(pos), len(neg), len(scores)
    V10 = np.zeros((k, m))
    V01 = np.zeros((k, n))
    for r, s in enumerate(scores):
        for a, i in enumerate(pos):
            for b, j in enumerate(neg):
                h = psi(s[i], s[j])
                V10[r, a] += h / n
                V01[r, b] += h / m
    aucs = V10.mean(axis=1)
    S10 = np.array([[np.sum((V10[r] - aucs[r]) * (V10[q] - aucs[q])) / (m - 1) for q in range(k)] for r in range(k)])
    S01 = np.array([[np.sum((V01[r] - V01[r].mean()) * (V01[q] - V01[q].mean())) / (n - 1) for q in range(k)]
                    for r in range(k)])
    return aucs, S10 / m + S01 / n


def slow_test(y, p1, p2):
    aucs, S = slow_delong(y, [p1, p2])
    z = (aucs[0] - aucs[1]) / math.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    return aucs, S, z, 2 * (1 - stats.norm.cdf(abs(z)))


def random_case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 70))
    y = (rng.random(n) < rng.uniform(0.2, 0.7)).astype(int)
    y[:2], y[2:4] = 1, 0
    base = rng.normal(size=n) + rng.uniform(0, 1.5) * y
    p1 = base + rng.normal(scale=0.7, size=n)
    p2 = base + rng.normal(scale=1.2, size=n)
    kind = seed % 4  # 0 continuous, 1 rounded (many ties), 2 integer scores (heavy ties), 3 one model constant-ish
    if kind == 1: p1, p2 = p1.round(1), p2.round(0)
    if kind == 2: p1, p2 = np.floor(p1).clip(-2, 2), np.floor(2 * p2).clip(-3, 3)
    if kind == 3: p2 = (p2 > np.median(p2)).astype(float)
    return y, p1, p2


@pytest.mark.parametrize("seed", range(12))
def test_fast_delong_matches_direct_computation(seed):
    y, p1, p2 = random_case(seed)
    aucs, S = delong_cov(y, p1, p2)
    aucs_slow, S_slow = slow_delong(y, [p1, p2])
    assert np.allclose(aucs, aucs_slow, atol=1e-6, rtol=0)
    assert np.allclose(S, S_slow, atol=1e-6, rtol=0)
    res = delong_test(y, p1, p2)
    _, _, z, p = slow_test(y, p1, p2)
    assert res["z"] == pytest.approx(z, abs=1e-6) and res["p"] == pytest.approx(p, abs=1e-6)
    assert res["auc1"] == pytest.approx(skm.roc_auc_score(y, p1), abs=1e-12)
    assert res["auc2"] == pytest.approx(skm.roc_auc_score(y, p2), abs=1e-12)
    lo, hi = res["diff_ci"]
    assert lo <= res["diff"] <= hi and (res["p"] < 0.05) == (lo > 0 or hi < 0)


def test_delong_ci_matches_direct_variance():
    y, p1, _ = random_case(5)
    auc, lo, hi = delong_ci(y, p1, alpha=0.05)
    aucs, S = slow_delong(y, [p1])
    half = stats.norm.ppf(0.975) * math.sqrt(S[0, 0])
    assert auc == pytest.approx(aucs[0], abs=1e-12)
    assert lo == pytest.approx(max(0, aucs[0] - half),
                               abs=1e-9) and hi == pytest.approx(min(1, aucs[0] + half), abs=1e-9)
    # a perfect classifier: AUC 1, zero variance, interval clipped
    y = np.array([0, 0, 0, 1, 1, 1])
    assert delong_ci(y, y * 0.9 + 0.05) == (1.0, 1.0, 1.0)


def test_delong_test_is_calibrated_under_the_null():
    "Two exchangeable models of equal quality: p-values close to uniform (about 5% below 0.05)."
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(400):
        y = np.arange(100) % 2
        base = rng.normal(size=100) + 0.8 * y
        ps.append(delong_test(y, base + rng.normal(size=100), base + rng.normal(size=100))["p"])
    ps = np.array(ps)
    assert 0.02 <= (ps < 0.05).mean() <= 0.09
    assert stats.kstest(ps, "uniform").pvalue > 0.01


def test_delong_detects_a_real_difference_and_is_antisymmetric():
    rng = np.random.default_rng(1)
    y = np.arange(200) % 2
    good, bad = y + rng.normal(scale=0.6, size=200), y + rng.normal(scale=3.0, size=200)
    a, b = delong_test(y, good, bad), delong_test(y, bad, good)
    assert a["p"] < 0.001 and a["z"] == pytest.approx(-b["z"]) and a["p"] == pytest.approx(b["p"])
    with pytest.raises(ValueError, match="at least 2"):
        delong_test(np.array([1, 0, 0, 0]), np.arange(4.0), np.arange(4.0))


# ---------------------------------------------------------------- folds
def test_grouped_folds_keep_patients_together_and_stratify():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), rng.integers(1, 4, 60))
    y = (rng.random(60) < 0.4).astype(int)[groups]  # label per patient
    folds = grouped_folds(y, groups, n_splits=5, n_repeats=3, seed=7)
    assert len(folds) == 15
    for r in range(3):
        tested = np.concatenate([te for rr, _, _, te in folds if rr == r])
        assert np.array_equal(np.sort(tested), np.arange(len(y)))
    for _, _, tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        assert abs(y[te].mean() - y.mean()) < 0.2
    again = grouped_folds(y, groups, n_splits=5, n_repeats=3, seed=7)
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(folds, again))
    with pytest.raises(ValueError, match="number of patients"):
        grouped_folds(y[:6], np.array([0, 0, 1, 1, 2, 2]), n_splits=5)


# ---------------------------------------------------------------- thresholds
@pytest.mark.parametrize("seed", range(5))
def test_youden_threshold_maximises_j_on_training_data(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(80) < 0.4).astype(int)
    y[:2] = [0, 1]
    p = (1 / (1 + np.exp(-(y + rng.normal(size=80))))).round(2)  # ties
    thr = choose_threshold(y, p)
    J = lambda t: ((p >= t) & (y == 1)).sum() / (y == 1).sum() + ((p < t) & (y == 0)).sum() / (y == 0).sum() - 1
    best = max(J(t) for t in np.unique(p))
    assert J(thr) == pytest.approx(best)
    assert thr not in set(p) or thr == p.min()  # halfway between two training scores
    t90 = choose_threshold(y, p, "sensitivity@0.9")
    assert ((p >= t90) & (y == 1)).sum() / (y == 1).sum() >= 0.9
    assert ((p >= t90 + 0.011) & (y == 1)).sum() / (y == 1).sum() < 0.9 or t90 + 0.011 > p.max()
    s90 = choose_threshold(y, p, "specificity@0.9")
    assert ((p < s90) & (y == 0)).sum() / (y == 0).sum() >= 0.9
    with pytest.raises(ValueError, match="unknown threshold method"):
        choose_threshold(y, p, "f1")


def test_oof_predict_proba_is_grouped_and_reproducible():
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % 2
    g = np.arange(60) // 3
    X[:, 0] += y
    a = oof_predict_proba(LogisticRegression(), X, y, g, n_splits=3, seed=0)
    b = oof_predict_proba(LogisticRegression(), X, y, g, n_splits=3, seed=0)
    assert a.shape == (60,) and np.array_equal(a, b) and ((a > 0) & (a < 1)).all()


# ---------------------------------------------------------------- metrics
# ---------------------------------------------------------------- cluster bootstrap
def test_cluster_bootstrap_is_wider_than_a_lesion_bootstrap_for_duplicated_lesions():
    "Each patient contributes two identical lesions: the patient bootstrap must see 60 patients, not 120 lesions."
    rng = np.random.default_rng(0)
    y0 = np.arange(60) % 2
    p0 = np.clip(0.5 + 0.25 * (2 * y0 - 1) + rng.normal(scale=0.25, size=60), 0, 1)
    y, p, g = np.repeat(y0, 2), np.repeat(p0, 2), np.repeat(np.arange(60), 2)
    clustered = cluster_bootstrap_ci(y, p, g, "accuracy", threshold=0.5, n_boot=2000, seed=0)["accuracy"]
    naive = cluster_bootstrap_ci(y, p, np.arange(120), "accuracy", threshold=0.5, n_boot=2000, seed=0)["accuracy"]
    single = cluster_bootstrap_ci(y0, p0, np.arange(60), "accuracy", threshold=0.5, n_boot=2000, seed=0)["accuracy"]
    width = lambda ci: ci[1] - ci[0]
    assert width(clustered) > 1.2 * width(naive)
    assert width(clustered) == pytest.approx(width(single), rel=0.25)


def test_metrics_with_ci_bracket_their_values_follow_the_seed_and_write_undefined_as_null():
    "(The schema, the clustered AUC interval, JSON and same-seed determinism: chapter 09a's metrics_with_ci cell.)"
    rng = np.random.default_rng(0)
    y = np.arange(80) % 2
    p = np.clip(0.5 + 0.2 * (2 * y - 1) + rng.normal(scale=0.2, size=80), 0, 1)
    g = np.arange(80) // 2
    thr = np.full(80, 0.5)
    res = metrics_with_ci(y, p, g, threshold=thr, n_boot=300, seed=3)
    for k, v in res.items():
        assert len(v["ci"]) == 2 and v["ci"][0] <= v["value"] <= v["ci"][1], k
    assert res != metrics_with_ci(y, p, g, threshold=thr, n_boot=300, seed=4)
    nothing_called = metrics_with_ci(y, p, g, threshold=2.0, n_boot=50, seed=0)
    assert nothing_called["ppv"]["value"] is None  # undefined, written as JSON null


# ---------------------------------------------------------------- McNemar
def test_mcnemar_counts_and_p_values():
    y = np.array([1] * 40 + [0] * 40)
    rng = np.random.default_rng(0)
    yh1 = np.where(rng.random(80) < 0.85, y, 1 - y)
    yh2 = np.where(rng.random(80) < 0.65, y, 1 - y)
    res = mcnemar_test(y, yh1, yh2)
    ok1, ok2 = yh1 == y, yh2 == y
    b, c = int((ok1 & ~ok2).sum()), int((~ok1 & ok2).sum())
    assert (res["b"], res["c"]) == (b, c)
    if b + c < 25:
        assert res["exact"] and res["p"] == pytest.approx(min(1, 2 * stats.binom.cdf(min(b, c), b + c, 0.5)))
    chi = mcnemar_test(y, yh1, yh2, exact=False)
    assert chi["p"] == pytest.approx(stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))
    # many discordant pairs switch to the chi-square test
    big = np.array([1] * 100)
    assert mcnemar_test(big, np.r_[np.ones(60), np.zeros(40)], np.r_[np.zeros(60), np.ones(40)])["exact"] is False
    assert mcnemar_test(y, yh1, yh1)["p"] == 1.0
