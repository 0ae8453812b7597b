("Feature selection: planted signal, no leakage from rows outside the fit, pipelines in grouped CV, stability, "
 "mini-MIAS.")
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, cross_val_predict, cross_val_score
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from radllm.selection import (SELECTORS, CorrelationFilter, LassoSelector, MannWhitneySelector, MRMRSelector,
                              NearConstantFilter, make_selector, nogueira_stability, nogueira_stability_ci,
                              planted_signal_table, selected_features, selection_frequency, selection_matrix)

FAMILIES = ["inf0", "inf1", "inf2"]
family = lambda name: name.replace("_copy", "")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mrmr_picks_one_of_each_informative_family(seed):
    X, y = planted_signal_table(n=200, seed=seed)
    for scheme in ("quotient", "difference"):
        sel = MRMRSelector(n_features=3, scheme=scheme).fit(X, y).selected_
        assert sorted(family(c) for c in sel) == FAMILIES, (scheme, sel)


def test_mrmr_order_is_selection_order_and_deterministic():
    X, y = planted_signal_table(n=150, n_noise=30, seed=3)
    a, b = MRMRSelector(n_features=8).fit(X, y), MRMRSelector(n_features=8).fit(X.copy(), y.copy())
    assert a.selected_ == b.selected_ and list(a.mrmr_scores_.index) == a.selected_
    assert a.selected_[0] == a.scores_.idxmax()  # the first pick is the most relevant feature
    assert len(set(a.selected_)) == 8


@pytest.mark.parametrize("seed", [0, 1])
def test_mannwhitney_fdr_keeps_informative(seed):
    X, y = planted_signal_table(n=200, seed=seed)
    mw = MannWhitneySelector(alpha=0.05).fit(X, y)
    informative = {c for c in X.columns if c.startswith("inf")}
    assert set(mw.selected_[:6]) == informative
    assert (mw.qvalues_[mw.selected_] < 0.05).all()
    assert mw.pvalues_[mw.selected_].is_monotonic_increasing
    # q-values are Benjamini-Hochberg: recompute them by hand
    p = mw.pvalues_.to_numpy()
    m = len(p)
    order = np.argsort(p)
    q = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    assert np.allclose(np.minimum(q, 1), mw.qvalues_.to_numpy()[order])


def test_mannwhitney_warns_and_keeps_min_features_when_nothing_passes():
    X, y = planted_signal_table(n=60, n_informative=0, n_noise=10, seed=0)
    with pytest.warns(UserWarning, match="pass FDR"):
        mw = MannWhitneySelector(min_features=2).fit(X, y)
    assert len(mw.selected_) == 2 and mw.selected_ == list(mw.pvalues_.sort_values().index[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert MannWhitneySelector(min_features=0).fit(X, y).selected_ == []


def test_lasso_keeps_informative_ranked_by_coefficient():
    X, y = planted_signal_table(n=200, seed=0)
    las = LassoSelector(max_features=5).fit(X, y, groups=np.arange(len(y)))   # every lesion its own patient
    assert {family(c) for c in las.selected_[:3]} == set(FAMILIES)
    assert np.all(np.diff(np.abs(las.coef_[las.selected_].to_numpy())) <= 0)
    g = np.arange(len(y)) // 2
    grouped = make_selector("lasso", 5).fit(X, y, select__groups=g)  # inner CV grouped by patient
    assert grouped["select"].C_ > 0 and len(selected_features(grouped)) <= 5


def test_correlation_filter_keeps_more_relevant_member():
    rng = np.random.default_rng(0)
    a = rng.normal(size=100)
    X = pd.DataFrame({"weak": a + 0.2 * rng.normal(size=100), "strong": a, "other": rng.normal(size=100)})
    y = (a + 0.1 * rng.normal(size=100) > 0).astype(int)
    assert CorrelationFilter(threshold=0.9).fit(X).selected_ == ["weak", "other"]          # no y: the first of the pair
    assert CorrelationFilter(threshold=0.9).fit(X, y).selected_ == ["strong", "other"]     # y: the more relevant one


def test_numpy_input_gets_f_names_and_transform_by_position():
    X, y = planted_signal_table(n=80, seed=0)
    sel = make_selector("mrmr", 3).fit(X.to_numpy(), y)
    names = selected_features(sel)
    assert all(n.startswith("f") for n in names)
    out = sel.transform(X.to_numpy())
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    idx = [int(n[1:]) for n in names]
    assert np.array_equal(out.to_numpy(), X.to_numpy()[:, idx])


def test_transform_names_missing_columns_and_nonfinite_values():
    X, y = planted_signal_table(n=80, seed=0)
    sel = make_selector("mrmr", 3).fit(X, y)
    with pytest.raises(ValueError, match="missing"):
        sel.transform(X.drop(columns=selected_features(sel)[0]))
    with pytest.raises(ValueError, match="patient_id"):
        make_selector("mrmr", 3).fit(X.assign(patient_id=[f"P{i}" for i in range(len(X))]), y)
    bad = X.copy()
    bad.iloc[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"L005"):
        make_selector("mrmr", 3).fit(bad, y)


@pytest.mark.parametrize("name", SELECTORS)
def test_fit_uses_only_the_training_rows(name):
    "Fit on rows A; rewriting rows B (features and labels) must not change what is selected from A."
    X, y = planted_signal_table(n=160, seed=4)
    rng = np.random.default_rng(0)
    A, B = np.arange(0, 100), np.arange(100, 160)
    X2, y2 = X.copy(), y.copy()
    X2.iloc[B] = rng.normal(size=(len(B), X.shape[1])) * 50
    y2[B] = 1 - y2[B]
    groups = {"select__groups": np.arange(len(A))} if name == "lasso" else {}   # lasso: grouped inner folds
    s1 = make_selector(name, 4).fit(X.iloc[A], y[A], **groups)
    s2 = make_selector(name, 4).fit(X2.iloc[A], y2[A], **groups)
    assert selected_features(s1) == selected_features(s2)
    # a refit of the same (cloned) object forgets the previous data
    s3 = clone(s1).fit(X2.iloc[A], y2[A], **groups)
    assert selected_features(s3) == selected_features(s1)
    pd.testing.assert_frame_equal(s1.transform(X2.iloc[B]), s3.transform(X2.iloc[B]))


def test_selection_inside_cv_does_not_leak_on_pure_noise():
    ("The leak detector: with pure noise, selection inside the folds gives AUC ~ 0.5; selection on all rows first does "
     "not.")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 400)), columns=[f"n{i}" for i in range(400)])
    y = np.arange(60) % 2
    g = np.arange(60) // 2
    cv = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    honest = make_pipeline(make_selector("mannwhitney", 8), LogisticRegression(max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no noise feature passes FDR: top by p is kept
        p_honest = cross_val_predict(honest, X, y, groups=g, cv=cv, method="predict_proba")[:, 1]
        leaky_cols = MannWhitneySelector(min_features=8, max_features=8).fit(X, y).selected_
    p_leaky = cross_val_predict(LogisticRegression(max_iter=1000), X[leaky_cols], y, groups=g, cv=cv,
                                method="predict_proba")[:, 1]
    auc_honest, auc_leaky = roc_auc_score(y, p_honest), roc_auc_score(y, p_leaky)
    assert abs(auc_honest - 0.5) < 0.2, auc_honest
    assert auc_leaky > 0.8, auc_leaky


@pytest.mark.parametrize("name", SELECTORS)
def test_pipeline_in_cross_val_score_with_groupkfold(name):
    X, y = planted_signal_table(n=120, seed=5)
    g = np.arange(len(y)) // 2
    model = make_pipeline(make_selector(name, 3), LogisticRegression(max_iter=1000))
    params = {"pipeline__select__groups": g} if name == "lasso" else None   # lasso: grouped inner folds
    scores = cross_val_score(model, X, y, groups=g, cv=GroupKFold(4), scoring="roc_auc", params=params)
    assert scores.shape == (4,) and scores.mean() > 0.75


def test_get_params_round_trip():
    sel = make_selector("mrmr", 5, corr_threshold=0.8, scheme="difference")
    params = sel.get_params()
    assert params["select__n_features"] == 5 and params["correlation__threshold"] == 0.8
    assert params["select__scheme"] == "difference"
    assert clone(sel).get_params()["select__scheme"] == "difference"
    assert NearConstantFilter(freq_ratio=5).get_params() == {"freq_ratio": 5, "unique_fraction": 0.1, "rtol": 1e-9}
    with pytest.raises(ValueError, match="unknown selector"):
        make_selector("relief")


def _nogueira_reference(Z):
    "Direct transcription of Definition 4 of Nogueira et al. (2018) with explicit loops."
    M, d = Z.shape
    kbar = sum(Z[i].sum() for i in range(M)) / M
    s2 = []
    for f in range(d):
        pf = sum(Z[i, f] for i in range(M)) / M
        s2.append(M / (M - 1) * pf * (1 - pf))
    return 1 - (sum(s2) / d) / ((kbar / d) * (1 - kbar / d))


def test_nogueira_stability_matches_definition_and_limits():
    rng = np.random.default_rng(0)
    feats = [f"x{i}" for i in range(15)]
    for _ in range(5):
        sels = [list(rng.choice(feats, rng.integers(2, 8), replace=False)) for _ in range(6)]
        Z = selection_matrix(sels, feats).to_numpy()
        assert nogueira_stability(sels, feats) == pytest.approx(_nogueira_reference(Z), abs=1e-12)
    assert nogueira_stability([["x1", "x2"]] * 3, feats) == pytest.approx(1.0)
    ci = nogueira_stability_ci([["x1", "x2"], ["x1", "x3"], ["x1", "x2"], ["x2", "x4"]], feats)
    assert ci["lo"] <= ci["stability"] <= ci["hi"] and ci["variance"] >= 0
    with pytest.raises(ValueError, match="candidate"):
        nogueira_stability([["zz"], ["x1"]], feats)


def test_selection_frequency_over_cv_folds():
    X, y = planted_signal_table(n=150, seed=0)
    g = np.arange(len(y)) // 2
    fits = [make_selector("mrmr", 3).fit(X.iloc[tr], y[tr]) for tr, _ in GroupKFold(5).split(X, y, g)]
    freq = selection_frequency(fits)
    assert list(freq.columns[:3]) == ["feature", "count", "frequency"]
    assert freq["count"].sum() == 15 and freq["frequency"].max() <= 1
    assert freq["count"].is_monotonic_decreasing
    assert set(freq.feature.map(family)) == set(FAMILIES)  # only informative families ever selected
    assert 0 < nogueira_stability(fits) <= 1


def test_real_mini_mias_features(mias_dir):
    from radllm.data import feature_columns, load_dataset
    from radllm.extraction import extract
    feats, _ = extract(load_dataset(f"mini-mias:{mias_dir}"))
    X, y, g = feats[feature_columns(feats)], feats["label"].to_numpy(), feats["patient_id"].to_numpy()
    assert len(X) >= 80
    for name in ("mrmr", "mannwhitney", "lasso"):
        groups = {"select__groups": g} if name == "lasso" else {}     # lasso chooses its C on grouped inner folds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sel = make_selector(name, 8).fit(X, y, **groups)
        names = selected_features(sel)
        assert 1 <= len(names) <= 8 and set(names) <= set(X.columns)
        assert list(sel.transform(X).columns) == names
    flat = [c for c in X.columns if X[c].std() <= 1e-9 * X[c].abs().mean()]  # e.g. Elongation of circular ROIs
    assert not set(flat) & set(NearConstantFilter().fit(X).selected_)
    kept = make_selector("none").fit(X, y)["correlation"].selected_
    corr = X[kept].corr(method="spearman").abs().to_numpy()
    assert corr[~np.eye(len(kept), dtype=bool)].max() <= 0.9
    model = make_pipeline(make_selector("mrmr", 8), LogisticRegression(max_iter=2000, C=0.1))
    folds = list(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, g))
    for tr, te in folds:
        assert not set(g[tr]) & set(g[te])
    auc = cross_val_score(model, X, y, groups=g, cv=folds, scoring="roc_auc")
    assert np.isfinite(auc).all()
    fits = [make_selector("mrmr", 8).fit(X.iloc[tr], y[tr]) for tr, _ in folds]
    assert -1 <= nogueira_stability(fits) <= 1
    assert selection_frequency(fits)["count"].sum() == 40
