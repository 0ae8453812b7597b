"The built-in synthetic dataset: determinism, schema, masks, composition, and a realistic radiomics difficulty."
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation

from radllm.data import validate_manifest
from radllm.synthetic import MARGINS, PATCH, SHAPES, SPACING_MM, SYNTHETIC_VERSION, make_dataset


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ds240(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn240") / "syn"
    return out, make_dataset(out, n=240, seed=0)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = (make_dataset(tmp_path / k, n=10, seed=s) for k, s in [("a", 3), ("b", 3), ("c", 4)])
    fa, fb, fc = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert len(fa) == 2 * 10 + 3 and fa == fb                  # images, masks, manifest.csv, README.md, .radllm.json
    assert fa.keys() == fc.keys()
    assert all(fa[k] != fc[k] for k in fa if k.startswith("images/"))
    pd.testing.assert_frame_equal(a.drop(columns=["image", "mask"]), b.drop(columns=["image", "mask"]))


def test_ids_are_numbered_from_one(tmp_path):
    m = make_dataset(tmp_path / "s", n=7, seed=1)
    assert list(m.lesion_id) == [f"SYN-L{i:04d}" for i in range(1, 8)]
    assert m.patient_id.iloc[0] == "SYN-P0001"


def test_schema(ds240):
    out, m = ds240
    # radllm's own checks (files exist, ids unique, labels)
    validate_manifest(m)
    expected = ["lesion_id", "patient_id", "image", "mask", "label", "label_source", "dataset", "spacing_mm",
                "lesion_type", "density", "birads",
                "mass_shape", "mass_margin", "diameter_mm"]
    assert list(m.columns) == expected
    assert len(m) == 240 and m.lesion_id.is_unique
    assert m.lesion_id.str.fullmatch(r"SYN-L\d{4}").all() and m.patient_id.str.fullmatch(r"SYN-P\d{4}").all()
    assert (m.dataset == "synthetic").all() and (m.spacing_mm == SPACING_MM).all() and (m.lesion_type == "mass").all()
    assert set(m.density) <= {"fatty", "glandular", "dense"} and len(set(m.density)) == 3
    assert m.birads.between(2, 5).all() and set(m.mass_shape) <= set(SHAPES) and set(m.mass_margin) <= set(MARGINS)
    assert m.diameter_mm.between(5, 30).all()
    raw = pd.read_csv(out / "manifest.csv")                              # relative paths on disk, absolute in memory
    assert list(raw.image) == [f"images/{i}.png" for i in raw.lesion_id] and list(raw["mask"]) \
        == [f"masks/{i}.png" for i in raw.lesion_id]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in list(m.image) + list(m["mask"]))
    card = (out / "README.md").read_text()
    assert f"version {SYNTHETIC_VERSION}" in card and "seed=0" in card and "not images of real patients" in card.lower()


def test_images_and_masks(ds240):
    _, m = ds240
    brighter = []
    for img_p, mask_p, d in zip(m.image, m["mask"], m.diameter_mm):
        with Image.open(img_p) as im: img = np.asarray(im)
        with Image.open(mask_p) as mk: mode, mask = mk.mode, np.asarray(mk)
        assert img.dtype == np.uint16 and img.shape == (PATCH, PATCH), img_p
        assert mode == "L" and mask.shape == img.shape and set(np.unique(mask)) == {0, 255}, mask_p
        inside = mask > 0
        assert not (inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any()), mask_p
        assert 0.10 * 65535 < img[~inside].mean() < 0.65 * 65535, img_p       # tissue, not saturated
        ring = binary_dilation(inside, iterations=12) & ~inside
        brighter.append(img[inside].mean() > img[ring].mean())
        assert 0.5 * d < 2 * np.sqrt(inside.sum() / np.pi) * SPACING_MM < 1.8 * d, mask_p
    # masses are denser than the tissue around them
    assert np.mean(brighter) > 0.9


def test_composition(ds240):
    _, m = ds240
    assert m.label.sum() == round(0.45 * 240)                            # 45 % malignant, 55 % benign
    per_patient = m.groupby("patient_id").size()
    assert 0.15 <= (per_patient > 1).mean() <= 0.40 and per_patient.max() <= 3
    assert (m.groupby("patient_id").density.nunique() == 1).all()       # density belongs to the patient
    by = m.groupby("label")
    assert by.diameter_mm.median()[1] > by.diameter_mm.median()[0]
    ct = pd.crosstab(m.mass_margin, m.label)
    assert ct.loc["spiculated", 1] > 0 and ct.loc["circumscribed",
                                                  1] > 0 and ct.loc["circumscribed", 0] > ct.loc["circumscribed", 1]
    # BI-RADS is informative but noisy: both classes get both benign-looking and suspicious categories
    assert ((m.birads >= 4) & (m.label == 0)).any() and ((m.birads <= 3) & (m.label == 1)).any()
    assert m[m.label == 1].birads.mean() > m[m.label == 0].birads.mean() + 0.8


def test_bad_n(tmp_path):
    with pytest.raises(ValueError, match="positive number of lesions"): make_dataset(tmp_path, n=0)


# --- difficulty: a conventional radiomics classifier is good, not perfect (about 1 minute on 2 cores) -----------------

def _pyradiomics_features(img_path: str, mask_path: str) -> dict:
    import SimpleITK as sitk
    from radiomics import featureextractor
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ex = featureextractor.RadiomicsFeatureExtractor(force2D=True, binCount=32)
    ex.disableAllFeatures()
    for c in "firstorder shape2D glcm glrlm glszm gldm ngtdm".split(): ex.enableFeatureClassByName(c)
    with Image.open(img_path) as im: img = np.asarray(im, dtype=float) / 65535
    with Image.open(mask_path) as mk: mask = (np.asarray(mk) > 0).astype(np.uint8)
    si, sm = sitk.GetImageFromArray(img[None]), sitk.GetImageFromArray(mask[None])
    for s in (si, sm): s.SetSpacing((SPACING_MM, SPACING_MM, 1.0))
    return {k: float(v) for k, v in ex.execute(si, sm).items() if k.startswith("original_")}


def test_radiomics_auc_is_realistic(tmp_path):
    from joblib import Parallel, delayed
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    m = make_dataset(tmp_path / "syn", n=120, seed=0)
    X = pd.DataFrame(Parallel(n_jobs=2)(delayed(_pyradiomics_features)(i, k) for i, k in zip(m.image, m["mask"])))
    assert X.shape == (120, 102) and np.isfinite(X.values).all()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    aucs = []
    # repeated grouped 5-fold CV: a stable estimate
    for rep in range(3):
        cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=rep)
        p = cross_val_predict(model, X.values, m.label.values, groups=m.patient_id.values, cv=cv,
                              method="predict_proba")[:, 1]
        aucs.append(roc_auc_score(m.label, p))
    auc = float(np.mean(aucs))
    assert 0.70 <= auc <= 0.95, \
        (f"radiomics LR AUC {auc:.3f} (per repeat {np.round(aucs, 3)}): the synthetic task is too "
         f"{'easy' if auc > 0.95 else 'hard'}")
