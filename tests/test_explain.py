("Explaining a lesion of a saved run from the command line (refitted probabilities match the recorded ones; the card) "
 "and the model reports `radllm report` writes for the run and its batch.")
import json, re

import pandas as pd
import pytest

from helpers import radllm


def test_explain_refits_the_recorded_probabilities_and_writes_a_card(run_folder):
    pred = pd.read_parquet(run_folder / "predictions.parquet")
    lesion = str(pred.lesion_id.iloc[5])
    r = radllm("explain", run_folder, lesion, "--top", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = re.findall(r"^(\w+): P\(malignant\) ([\d.]+), recorded ([\d.]+)", r.stdout, re.M)
    assert {arm for arm, _, _ in calls} == {"radiomics", "text"}, r.stdout
    for arm, refit, recorded in calls: assert abs(float(refit) - float(recorded)) < 1e-3, (arm, refit, recorded)
    assert "(coefficients, effect in log-odds)" in r.stdout and "(sentence left out, effect in probability)" in r.stdout
    card = run_folder / "figures" / f"lesion_{lesion}.png"
    assert card.is_file() and card.stat().st_size > 10_000


def test_explain_never_overwrites_a_picture_of_the_users(run_folder, tmp_path):
    "--card naming a PNG radllm did not write is refused, the file untouched; a card radllm wrote is replaced."
    from PIL import Image
    from radllm.figures import is_radllm_png
    lesion = str(pd.read_parquet(run_folder / "predictions.parquet").lesion_id.iloc[0])
    mine = tmp_path / "mine.png"
    Image.new("L", (8, 8)).save(mine)
    before = mine.read_bytes()
    run = lambda card: radllm("explain", run_folder, lesion, "--card", card)
    r = run(mine)
    assert r.returncode == 2 and f"--card {mine} holds files radllm did not write" in r.stderr, r.stderr
    assert mine.read_bytes() == before and "Traceback" not in r.stderr
    ours = tmp_path / "card.png"
    assert run(ours).returncode == 0 and is_radllm_png(ours)
    assert run(ours).returncode == 0                                    # its own card: replaced


def test_explain_an_unknown_lesion_says_so(run_folder):
    from radllm.explain import explain_lesion
    with pytest.raises(ValueError, match="lesion 'NO-SUCH' is not among the 36 extracted lesions"):
        explain_lesion(run_folder, "NO-SUCH")


def test_report_writes_the_model_reports_of_the_run_and_the_batch(run_folder):
    from radllm.runs import report
    batch = run_folder.parent.parent
    report(batch)
    run_md = (run_folder / "model_report.md").read_text()
    assert "## Discrimination, calibration and clinical usefulness (TRIPOD+AI 12e, 23a)" in run_md
    m = json.loads((run_folder / "metrics.json").read_text())
    assert f"{m['arms']['text']['auc']['value']:.3f}" in run_md
    # this run saved no QC table: the section says so instead of claiming an answer
    assert "## Eligibility and QC exclusions (TRIPOD+AI 6b, 7)\n\nNot filled: this run did not save" in run_md
    assert (run_folder / "figures" / "decision_curve.png").is_file() and (run_folder / "usefulness.json").is_file()
    assert "synthetic36/seed0/model_report.html" in (batch / "model_report.md").read_text()
    assert (batch / "model_report.html").is_file()
