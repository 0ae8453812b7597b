"""Benchmark: LoRA fine-tuning (radllm.finetune.LoraClassifier, CPU defaults) in 5 patient-grouped folds on the
mini-MIAS prompts; prints wall/CPU time per fold and the out-of-fold AUC (reported, never asserted). Skips without the
data."""
import re, sys, time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from radllm.finetune import LoraClassifier

from radllm.testing import mias_dir

MIAS = mias_dir()


ABBR = {"glcm": "GLCM", "glrlm": "GLRLM", "glszm": "GLSZM", "gldm": "GLDM", "ngtdm": "NGTDM",
        "firstorder": "first order", "shape2D": "shape"}
PROMPT_FEATURES = ["original_shape2D_Sphericity", "original_shape2D_Elongation", "original_shape2D_Perimeter",
                   "original_firstorder_Mean", "original_firstorder_Skewness", "original_firstorder_Kurtosis",
                   "original_glcm_ClusterShade", "original_glcm_Contrast", "original_glcm_Correlation",
                   "original_glszm_ZoneEntropy", "original_glrlm_RunEntropy", "original_gldm_DependenceNonUniformity"]


def prompt(row) -> str:
    "A local stand-in for the serializer: 'The GLCM cluster shade is -5.38e+03. ...' (12 features, ~145 tokens)."
    def name(col):
        _, cls, feat = col.split("_", 2)
        return f"{ABBR[cls]} {re.sub(r'(?<=[a-z0-9])(?=[A-Z])', ' ', feat).lower()}"
    return "Classify the breast lesion as benign or malignant. " + " ".join(
        f"The {name(c)} is {row[c]:.3g}." for c in PROMPT_FEATURES)


def main(mias_dir=MIAS):
    from radllm.data import load_dataset
    from radllm.extraction import extract
    table, _ = extract(load_dataset(f"mini-mias:{mias_dir}"), jobs=2, progress=False)   # + patient_id, label
    texts = [prompt(r) for _, r in table.iterrows()]
    y, groups = table.label.to_numpy(), table.patient_id.to_numpy()
    p, t0, c0, lines = np.full(len(y), np.nan), time.perf_counter(), time.process_time(), []
    for k, (tr, te) in enumerate(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(texts, y, groups)):
        assert not set(groups[tr]) & set(groups[te])
        t, c = time.perf_counter(), time.process_time()
        clf = LoraClassifier(seed=0).fit([texts[i] for i in tr], y[tr], groups=groups[tr])
        assert not set(groups[tr][clf.train_index_]) & set(groups[tr][clf.val_index_])
        p[te] = clf.predict_proba([texts[i] for i in te])[:, 1]
        lines.append(f"fold {k}: {time.perf_counter() - t:.0f} s wall, {time.process_time() - c:.0f} s CPU, "
                     f"{len(clf.history_)} epochs, best {clf.best_epoch_}")
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    if True:   # the numbers are reported, never asserted
        print(f"\nmini-MIAS LoRA 5-fold ({len(y)} lesions, {len(set(groups))} patients, CPU defaults, "
              f"{torch.get_num_threads()} threads): {total:.0f} s wall, {cpu:.0f} s CPU, out-of-fold AUC "
              f"{roc_auc_score(y, p):.3f}\n  "
              + "\n  ".join(lines))


if __name__ == "__main__":
    if not (MIAS / "Info.txt").is_file():
        print(f"LoRA benchmark skipped: mini-MIAS not found at {MIAS}")
        sys.exit(0)
    main()
