"""All five arms on the real mini-MIAS set, the leak detector and cross-dataset transfer (reproducibility:
test_run_faults.py, section 10)."""
import json

import pandas as pd
import pytest

from radllm.data import load_dataset
from radllm.evaluation import evaluate, transfer, conclusion
from radllm.extraction import extract


@pytest.fixture(scope="module")
def mias_features(tmp_path_factory):
    from conftest import MIAS
    if not (MIAS / "Info.txt").is_file(): pytest.skip(f"mini-MIAS data not found at {MIAS}")
    cache = tmp_path_factory.mktemp("cache")
    m = load_dataset(f"mini-mias:{MIAS}")
    features, _ = extract(m, jobs=2, cache_dir=cache, progress=False)
    return m, features, cache


def test_mias_all_five_arms(mias_features, tmp_path):
    m, features, cache = mias_features
    # 3 folds, LoRA with one learning rate and at most 5 steps: this test is about the protocol on real data (LoRA
    # learning is test_finetune's), and the default search (2 rates x 40 steps) would take two thirds of its time
    res = evaluate(m, features, arms=["radiomics", "text", "concat", "weighted", "lora"], n_splits=3, seed=0,
                   n_permutations=5, lora={"learning_rates": [3e-4], "max_steps": 5}, cache_dir=str(cache),
                   progress=False)
    out = res.save(tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_lesions"] == 83 and metrics["n_patients"] == 70
    assert set(metrics["arms"]) == {"radiomics", "text", "concat", "weighted", "lora"}
    for arm, ms in metrics["arms"].items():
        for k in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "balanced_accuracy", "brier"):
            assert "value" in ms[k] and len(ms[k]["ci"]) == 2, (arm, k)
        assert ("vs_radiomics" in ms) == (arm != "radiomics")
    # the leak detector: shuffled labels give chance
    assert abs(metrics["controls"]["permuted_labels_auc"] - 0.5) <= 0.1, metrics["controls"]
    # every lesion predicted once per arm; no patient on both sides of any split
    pred = pd.read_parquet(out / "predictions.parquet")
    assert (pred.groupby(["arm", "lesion_id"]).size() == 1).all()
    for arm, p in pred.groupby("arm"):
        assert (p.groupby("patient_id").fold.nunique() == 1).all(), f"{arm}: a patient spans folds"
    # all arms on identical folds
    folds = pred.pivot_table(index="lesion_id", columns="arm", values="fold")
    assert (folds.nunique(axis=1) == 1).all()
    print("\n" + res.table().to_string() + "\n" + conclusion(res))


def test_transfer_reads_features_the_test_set_lacks(tmp_path):
    "The text arm reads whatever features a lesion has; the radiomics arm uses the common ones."
    cache = tmp_path / "c"
    a, _ = extract(load_dataset("synthetic:60", cache_dir=cache), cache_dir=cache, progress=False)
    b = a.sample(frac=1.0, random_state=1).drop(columns=["original_shape2D_Sphericity", "original_glcm_Contrast"])
    res = transfer(a, b, arms=["radiomics", "text"], n_boot=100, cache_dir=str(cache))
    assert res.config["common_features"] == 100 and res.config["train_features"] == 102
    assert set(res.predictions.arm) == {"radiomics", "text"} and res.predictions.proba.between(0, 1).all()


def test_levels_pathway_embeds_few_short_texts(tmp_path):
    "The levels pathway needs at most (features selected in any fit) x 3 short sentences, cached across folds and arms."
    from radllm.study import record_texts, text_cost
    cache = tmp_path / "c"
    m = load_dataset("synthetic:60", cache_dir=cache)
    features, _ = extract(m, cache_dir=cache, progress=False)
    with record_texts() as texts:
        res = evaluate(m, features, arms=["radiomics", "text", "weighted"], serializer="levels", n_splits=3, n_boot=100,
                       n_permutations=0, cache_dir=str(cache), progress=False)
    cost = text_cost(texts)
    names = {t.rsplit(" is ", 1)[0] for t in texts}
    assert cost["n_texts"] <= 3 * len(names) and cost["mean_tokens"] < 20, cost
    assert all(t.endswith((" is low.", " is medium.", " is high.")) for t in texts)
    assert 0.5 < res.arms["text"]["auc"]["value"] <= 1
