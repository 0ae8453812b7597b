"""Extension points are registries (issue #21 item 1): a new entry reaches every consumer with no other edit."""
import argparse, json, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radllm.evaluation import evaluate
from radllm.extraction import extract
from radllm.runs import run_predictions, summarize_runs
from radllm.statistics import METRICS, Metric
from radllm.synthetic import make_dataset
from radllm.tables import design_table, metrics_table

NBS = Path(__file__).resolve().parents[1] / "nbs"


def test_a_metric_is_one_registry_entry(tmp_path, monkeypatch):
    """A toy metric added to METRICS only: metrics.json, the one summariser of runs and studies (`radllm report`, the
    study), its tables and the site's table."""
    monkeypatch.setitem(METRICS, "toy", Metric("toy share called", lambda c: (c.tp + c.fp) / len(c.y)))
    manifest = make_dataset(tmp_path / "data", n=40, seed=3)
    features, _ = extract(manifest, cache_dir=str(tmp_path / "cache"), progress=False)
    res = evaluate(manifest, features, arms=("radiomics",), n_splits=3, n_repeats=2, ablations=(), n_permutations=0,
                   n_boot=50, progress=False, dataset="synthetic")
    # metrics.json
    folder = res.save(tmp_path / "synthetic" / "seed0", figures=False)
    m = json.loads((folder / "metrics.json").read_text())
    toy = m["arms"]["radiomics"]["toy"]
    calls = res.predictions[res.predictions.repeat == 0]
    share = float((calls.proba >= calls.threshold).mean())
    assert np.isclose(toy["value"], share) and len(toy["ci"]) == 2
    # the summary `radllm report` writes (the study's too), with its corrected interval, and its tables
    runs = pd.DataFrame([{"dataset": "synthetic", "seed": 0, "folder": folder}])
    summary, tests = summarize_runs(*run_predictions(runs), n_boot=50)
    row = summary.iloc[0]
    assert row["toy_lo"] <= row["toy"] <= row["toy_hi"]
    assert "toy share called" in metrics_table(summary).columns
    assert "toy share called" in design_table(summary, tests, "synthetic").columns
    # the site's results page
    monkeypatch.syspath_prepend(str(NBS))
    import results_tables
    assert "toy share called" in results_tables.site_table(metrics_table(summary, "synthetic", stacked=True))
    sys.modules.pop("results_tables", None)


def test_a_prompt_style_is_one_registry_entry(tmp_path, monkeypatch):
    "A toy style added to STYLES only: the serializer writes it, a run uses it, and the styles ablation runs it."
    from radllm.evaluation import ablation_runs
    from radllm.prompting import STYLES, PromptSerializer, Style
    monkeypatch.setitem(STYLES, "toy", Style(lambda s, j, v, pct: f"The {s.names_[j]} reads {v:.1f}.", "toy"))
    manifest = make_dataset(tmp_path / "data", n=40, seed=3)
    features, _ = extract(manifest, cache_dir=str(tmp_path / "cache"), progress=False)
    prompt = PromptSerializer(style="toy").fit(features).transform(features.iloc[:1])[0]
    assert " reads " in prompt
    assert "toy" in ablation_runs(["styles"])["styles"]
    res = evaluate(manifest, features, arms=("radiomics", "text"), n_splits=3, ablations=(), n_permutations=0,
                   n_boot=50, progress=False, dataset="synthetic", serializer="toy")
    m = json.loads((res.save(tmp_path / "run", figures=False) / "metrics.json").read_text())
    assert 0 <= m["arms"]["text"]["auc"]["value"] <= 1


def test_an_arm_is_one_registry_entry(tmp_path, monkeypatch):
    "A toy arm added to ARMS only: a config may name it, a run fits it and tests it against radiomics."
    from sklearn.preprocessing import MinMaxScaler
    from radllm.config import RunConfig
    from radllm.fusion import ARMS, Arm, ArmSpec
    from radllm.runs import config_problems
    def toy(p):
        return Arm([p.select, ("scale", MinMaxScaler()), p.clf()])
    assert any("unknown 'toy'" in line for line in config_problems(RunConfig(arms=["radiomics", "toy"])))
    monkeypatch.setitem(ARMS, "toy", ArmSpec(toy, "radiomics with min-max scaling"))
    assert config_problems(RunConfig(arms=["radiomics", "toy"])) == []
    manifest = make_dataset(tmp_path / "data", n=40, seed=3)
    features, _ = extract(manifest, cache_dir=str(tmp_path / "cache"), progress=False)
    res = evaluate(manifest, features, arms=("radiomics", "toy"), n_splits=3, ablations=(), n_permutations=0,
                   n_boot=50, progress=False, dataset="synthetic")
    m = json.loads((res.save(tmp_path / "run", figures=False) / "metrics.json").read_text())
    assert 0 <= m["arms"]["toy"]["auc"]["value"] <= 1 and "vs_radiomics" in m["arms"]["toy"]


def test_a_loader_is_one_registry_entry(tmp_path, monkeypatch, capsys):
    ("A toy loader added to LOADERS only: the command line's help and its `extract`, the spec's options, the typed "
     "loaded dataset, and an evaluation whose metrics.json says what its labels rest on.")
    from radllm.cli import build_parser, main
    from radllm.config import LOADERS, Loader
    from radllm.data import LoadedDataset, load_dataset, open_dataset, read_manifest
    make_dataset(tmp_path / "toys", n=40, seed=3)
    def load_toy(arg, n: int = 40, **_):
        csv = Path(arg) / "manifest.csv"
        manifest = read_manifest(csv).drop(columns="label_source").head(n)   # its rows do not say: the entry does
        return LoadedDataset(manifest, [{"lesion_id": "T-1", "reason": "toy: no outline"}], [str(csv)])
    assert not any("toy" in k for k in LOADERS)
    monkeypatch.setitem(LOADERS, "toy", Loader(load_toy, about="a toy for this test", label_source="pathology"))
    # the command line's help
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "toy:PATH" in sub.choices["extract"].format_help()
    assert "a toy for this test" in sub.choices["run"].format_help()
    # the spec (an unknown kind names it), the loaded dataset and the Manifest alone
    with pytest.raises(ValueError, match="unknown dataset kind 'toys'; known: .*toy"): open_dataset("toys:x")
    data = open_dataset(f"toy:{tmp_path / 'toys'}?n=30")
    assert (data.spec, data.name, len(data.manifest), data.skipped[0]["lesion_id"]) \
        == (f"toy:{tmp_path / 'toys'}?n=30", "toy-toys", 30, "T-1")
    assert set(data.manifest.label_source) == {"pathology"} and data.labels == "labels: pathology for 30 lesions"
    assert len(load_dataset(f"toy:{tmp_path / 'toys'}")) == 40
    # `radllm extract` says what it loaded; its QC table holds the lesion the loader skipped
    cache = str(tmp_path / "cache")
    assert main(["extract", data.spec, "--out", str(tmp_path / "f.parquet"), "--cache-dir", cache]) == 0
    assert "toy-toys: 30 lesions" in capsys.readouterr().out
    assert "toy: no outline" in set(pd.read_csv(tmp_path / "f.qc.csv").reason)
    # an evaluation's metrics.json states what the labels rest on
    features, _ = extract(data, cache_dir=cache, progress=False)
    res = evaluate(data, features, arms=("radiomics",), n_splits=3, ablations=(), n_permutations=0, n_boot=50,
                   progress=False)
    m = json.loads((res.save(tmp_path / "run", figures=False) / "metrics.json").read_text())
    assert m["label_source"]["statement"] == "labels: pathology for 30 lesions" and m["dataset"] == data.spec
