"""Issue #14 on datasets built from real-format metadata: a few dozen rows per dataset written here with the published
column names and value spellings (CBIS-DDSM's four case-description tables, VinDr-Mammo's finding_annotations.csv,
INbreast's semicolon INbreast.csv and plist XMLs), with small stand-in images laid out as each dataset is distributed.

It checks what a user of the real data meets: loader options set in the spec (through `load_dataset` and through the
`radllm` command), every message that names an option saying how to set it (and naming a real one), the label
source of every manifest, and loads that find nothing saying why."""
import ast, hashlib, json, plistlib, re, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radllm import testing
import radllm.data as data
from radllm.config import LOADERS
from radllm.data import (LABEL_SOURCES, describe_labels, label_sources, load_dataset, loader_options,
                         manifest_problems, open_dataset, parse_birads, parse_dataset_spec)

from helpers import radllm

ALL_OPTIONS = sorted(set().union(*(loader_options(k) for k in LOADERS)))


def skipped(d): return {s["lesion_id"]: s["reason"] for s in d.skipped}

def hinted_spec(message: str, root, **values) -> str:
    "The spec a message tells the user to write, with PATH (and placeholder values) filled in."
    spec = re.search(r"\b[a-z][a-z0-9-]*:PATH\?[^\s);]+", message).group(0)
    for k, v in values.items(): spec = spec.replace(f"{k}=R", f"{k}={v}")
    return spec.replace("PATH", str(root))


# ================================================================ CBIS-DDSM: the four case-description tables
MASS_COLUMNS = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "mass shape",
                "mass margins", "assessment", "pathology", "subtlety", "image file path", "cropped image file path",
                "ROI mask file path"]
CALC_COLUMNS = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "calc type",
                "calc distribution", "assessment", "pathology", "subtlety", "image file path",
                "cropped image file path", "ROI mask file path"]
# patient, side, view, abnormality id, shape / calc type, margins / distribution, assessment, pathology, subtlety,
# density
CBIS_ROWS = {
    "mass_train": [("P_00001", "LEFT", "CC", 1, "IRREGULAR-ARCHITECTURAL_DISTORTION", "SPICULATED", 4, "MALIGNANT", 4,
                    3),
                   ("P_00001", "LEFT", "MLO", 1, "IRREGULAR-ARCHITECTURAL_DISTORTION", "SPICULATED", 4, "MALIGNANT", 4,
                    3),
                   ("P_00004", "LEFT", "CC", 1, "ARCHITECTURAL_DISTORTION", "ILL_DEFINED", 4, "BENIGN", 3, 3),
                   ("P_00004", "LEFT", "MLO", 1, "ARCHITECTURAL_DISTORTION", "ILL_DEFINED", 4, "BENIGN", 3, 3),
                   ("P_00004", "RIGHT", "MLO", 1, "OVAL", "CIRCUMSCRIBED", 4, "BENIGN", 5, 3),
                   ("P_00009", "RIGHT", "CC", 1, "IRREGULAR", "SPICULATED", 5, "MALIGNANT", 4, 2),
                   ("P_00021", "LEFT", "CC", 1, "ROUND", "CIRCUMSCRIBED", 2, "BENIGN_WITHOUT_CALLBACK", 5, 2),
                   ("P_00021", "LEFT", "CC", 2, "OVAL", "OBSCURED", 3, "BENIGN_WITHOUT_CALLBACK", 4, 2)],
    "mass_test": [("P_00016", "LEFT", "CC", 1, "IRREGULAR", "SPICULATED", 5, "MALIGNANT", 5, 4),
                  ("P_00016", "LEFT", "MLO", 1, "IRREGULAR", "SPICULATED", 5, "MALIGNANT", 5, 4),
                  ("P_00017", "LEFT", "CC", 1, "ROUND", "CIRCUMSCRIBED", 4, "MALIGNANT", 4, 2),
                  ("P_00032", "RIGHT", "CC", 1, "ROUND", "OBSCURED", 0, "BENIGN", 2, 3),
                  ("P_00037", "RIGHT", "CC", 1, "LOBULATED", "MICROLOBULATED", 4, "MALIGNANT", 3, 1),
                  ("P_00056", "LEFT", "CC", 1, "OVAL", "OBSCURED-ILL_DEFINED", 3, "BENIGN", 3, 2),
                  ("P_00066", "LEFT", "MLO", 1, "LOBULATED-IRREGULAR", "ILL_DEFINED", 4, "BENIGN", 2, 1),
                  ("P_00077", "RIGHT", "CC", 1, "ROUND", "CIRCUMSCRIBED", 2, "BENIGN_WITHOUT_CALLBACK", 5, 2)],
    "calc_train": [("P_00005", "RIGHT", "CC", 1, "AMORPHOUS", "CLUSTERED", 3, "MALIGNANT", 3, 3),
                   ("P_00005", "RIGHT", "MLO", 1, "AMORPHOUS", "CLUSTERED", 3, "MALIGNANT", 3, 3),
                   ("P_00007", "LEFT", "CC", 1, "PLEOMORPHIC", "LINEAR", 4, "BENIGN", 4, 2),
                   ("P_00008", "LEFT", "CC", 1, "ROUND_AND_REGULAR-LUCENT_CENTER-DYSTROPHIC", "REGIONAL", 2,
                    "BENIGN_WITHOUT_CALLBACK", 3, 2),
                   ("P_00008", "LEFT", "CC", 2, "PUNCTATE", "SEGMENTAL", 2, "BENIGN_WITHOUT_CALLBACK", 3, 2),
                   ("P_00012", "LEFT", "MLO", 1, "FINE_LINEAR_BRANCHING", "LINEAR", 5, "MALIGNANT", 5, 1),
                   ("P_00015", "LEFT", "MLO", 1, "VASCULAR", "", 2, "BENIGN_WITHOUT_CALLBACK", 5, 4),
                   ("P_00022", "RIGHT", "CC", 1, "LUCENT_CENTER", "DIFFUSELY_SCATTERED", 2, "BENIGN", 4, 3)],
    "calc_test": [("P_00038", "LEFT", "CC", 1, "PUNCTATE-PLEOMORPHIC", "CLUSTERED", 4, "BENIGN", 2, 2),
                  ("P_00038", "LEFT", "MLO", 1, "PUNCTATE-PLEOMORPHIC", "CLUSTERED", 4, "BENIGN", 2, 2),
                  ("P_00041", "LEFT", "CC", 1, "PLEOMORPHIC", "SEGMENTAL", 4, "MALIGNANT", 3, 3),
                  ("P_00077", "LEFT", "CC", 1, "AMORPHOUS", "CLUSTERED", 4, "MALIGNANT", 2, 3),
                  ("P_00100", "RIGHT", "CC", 1, "LARGE_RODLIKE", "SEGMENTAL", 2, "BENIGN_WITHOUT_CALLBACK", 5, 2),
                  ("P_00100", "RIGHT", "MLO", 1, "LARGE_RODLIKE", "SEGMENTAL", 2, "BENIGN_WITHOUT_CALLBACK", 5, 2),
                  ("P_00127", "RIGHT", "CC", 1, "PLEOMORPHIC", "CLUSTERED", 5, "MALIGNANT", 3, 4),
                  ("P_00127", "RIGHT", "CC", 2, "FINE_LINEAR_BRANCHING", "LINEAR", 5, "MALIGNANT", 3, 4)]}
CBIS_PREFIX = {"mass_train": "Mass-Training", "mass_test": "Mass-Test", "calc_train": "Calc-Training",
               "calc_test": "Calc-Test"}


def make_cbis_real(root, rows=CBIS_ROWS):
    """CBIS-DDSM with the four tables in the original release's layout (`<case>/<uid>/<uid>/000000.dcm`, the masks'
    paths ending in a newline, cropped image and mask sharing a folder in either order, one row's two paths swapped)."""
    root, rng = Path(root), np.random.default_rng(14)
    uid = iter(f"1.3.6.1.4.1.9590.100.1.2.{4000000000 + 7919 * i}{i:04d}" for i in range(1, 10000))
    full = {}
    for key, table in rows.items():
        prefix, out = CBIS_PREFIX[key], []
        for n, (pid, side, view, abn, a, b, assess, path, subtle, dens) in enumerate(table):
            case = f"{prefix}_{pid}_{side}_{view}"
            if case not in full:
                full[case] = f"{case}/{next(uid)}/{next(uid)}/000000.dcm"
                testing.write_dicom(root / full[case], rng.integers(0, 65535, (48, 40)), bits=16, spacing=None,
                               SeriesDescription="full mammogram images")
            folder = f"{case}_{abn}/{next(uid)}/{next(uid)}"
            mask_name, crop_name = ("000001.dcm", "000000.dcm") if n % 2 == 0 else ("000000.dcm", "000001.dcm")
            m = np.zeros((48, 40), np.uint8)
            m[10 + abn:22 + abn, 8:20] = 255
            testing.write_dicom(root / folder / mask_name, m, bits=8, spacing=None, SeriesDescription="ROI mask images")
            testing.write_dicom(root / folder / crop_name, rng.integers(0, 65535, (12, 12)), bits=16, spacing=None,
                           SeriesDescription="cropped images")
            crop_path, mask_path = f"{folder}/{crop_name}", f"{folder}/{mask_name}\n"
            # a row with the two swapped
            if (key, n) == ("mass_test", 2): crop_path, mask_path = mask_path.strip(), crop_path + "\n"
            kind = "mass" if key.startswith("mass") else "calcification"
            out.append([pid, dens, side, view, abn, kind, a, b, assess, path, subtle, full[case], crop_path, mask_path])
        testing.write_csv(root / f"{key.split('_')[0]}_case_description_{key.split('_')[1]}_set.csv",
                      MASS_COLUMNS if key.startswith("mass") else CALC_COLUMNS, out)
    return root


@pytest.fixture(scope="module")
def cbis_real(tmp_path_factory): return make_cbis_real(tmp_path_factory.mktemp("cbis") / "CBIS")


def test_cbis_real_labels_are_pathology(cbis_real):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                    # all four tables are there: no warning
        d = open_dataset(f"cbis-ddsm:{cbis_real}")
    rows, df = [(CBIS_PREFIX[k], r) for k in CBIS_ROWS for r in CBIS_ROWS[k]], d.manifest
    assert len(df) == 32 and not d.skipped and manifest_problems(df).empty
    assert list(df.lesion_id) == [f"{p}_{r[0]}_{r[1]}_{r[2]}_{r[3]}" for p, r in rows]
    assert list(df.pathology) == [r[7] for _, r in rows]
    assert list(df.label) == [int(r[7] == "MALIGNANT") for _, r in rows]        # BENIGN_WITHOUT_CALLBACK is benign
    # swapped paths: the header decides
    assert df.set_index("lesion_id").loc["Mass-Test_P_00017_LEFT_CC_1", "mask"].endswith("000001.dcm")
    assert set(df.label_source) == {"pathology"} and label_sources(df) == {"pathology": 32}
    assert describe_labels(df) == "labels: pathology for 32 lesions"
    # one patient across two tables
    assert set(df[df.patient_id == "P_00077"].lesion_type) == {"mass", "calcification"}


def test_cbis_subsets_in_the_spec(cbis_real):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = open_dataset(f"cbis-ddsm:{cbis_real}?subsets=calc_train,calc_test")
    assert len(d.manifest) == 16 and set(d.manifest.lesion_type) == {"calcification"} \
        and d.spec.endswith("?subsets=calc_train,calc_test")
    with pytest.raises(ValueError) as e: load_dataset(f"cbis-ddsm:{cbis_real}?subsets=mass,calc_test")
    assert "unknown subset(s) ['mass']; known: mass_train, mass_test, calc_train, calc_test" in str(e.value)
    assert len(load_dataset(hinted_spec(str(e.value), cbis_real))) == 16            # the hint is a spec that loads


def test_cbis_missing_table_says_which_spec_loads_the_rest(cbis_real, tmp_path):
    root = make_cbis_real(tmp_path / "cbis", {k: v[:2] for k, v in CBIS_ROWS.items() if k != "mass_test"})
    with pytest.warns(UserWarning,
                      match="mass_case_description_test_set.csv not found") as w: load_dataset(f"cbis-ddsm:{root}")
    assert str(w[0].message).endswith("set subsets in the spec: "
                                      "cbis-ddsm:PATH?subsets=mass_train,calc_train,calc_test)")
    with pytest.raises(FileNotFoundError) as e: load_dataset(f"cbis-ddsm:{root}?subsets=mass_train,mass_test")
    assert "mass_case_description_test_set.csv not found" in str(e.value) \
        and str(e.value).endswith("cbis-ddsm:PATH?subsets=mass_train")
    assert len(load_dataset(hinted_spec(str(e.value), root))) == 2


def test_cbis_tables_without_rows_say_so(tmp_path):
    root = make_cbis_real(tmp_path / "cbis", {k: [] for k in CBIS_ROWS})
    with pytest.raises(ValueError,
                       match=r"no lesion loaded: mass_case_description_train_set.csv, "
                             r".*calc_case_description_test_set.csv "
                             r"list\(s\) no abnormality \(a header and no rows\)"):
        load_dataset(f"cbis-ddsm:{root}")


# ===================================================== INbreast: INbreast.csv (;), AllDICOMs/, AllXML/ plists
INB_PATIENTS = ["0a4ab4ccd2f25c6e", "61b13c59bcba149e", "7d1bd21c4fd2c4de", "a2b9d0e4e8f3c7b1",
                "c8b1d5e90e2f4a76", "d3f0a7b2c6e14958", "e9c2b4f1a0d83765", "f4a6c8e2b1d09573"]
# (right, left) per patient
INB_BIRADS = [("1", "1"), ("2", "1"), ("3", "2"), ("4a", "1"), ("4b", "2"), ("1", "4c"), ("5", "1"), ("6", "2")]
MASS = [(10, 10), (30, 8), (38, 20), (30, 34), (14, 32), (8, 20)]
CLUSTER = [(5, 40), (20, 40), (20, 55), (5, 55)]
TRI = [(12, 14), (40, 12), (36, 44)]
# (patient, side, view) -> ROIs as (Name, points)
INB_ROIS = {(1, "R", "CC"): [("Calcification", [(20.5, 30.25)]), ("Calcification", [(33.0, 41.5)]),
                             ("Cluster", CLUSTER)],
            (1, "R", "MLO"): [("Calcification", [(22.0, 28.0)]), ("Calcification", [(30.5, 45.0)])],
            (2, "R", "CC"): [("Mass", MASS)], (2, "R", "MLO"): [("Mass", TRI)],
            (2, "L", "CC"): [("Calcification", [(24.0, 24.0)])],
            (3, "R", "CC"): [("Mass", MASS)], (3, "R", "MLO"): [("Mass", TRI)],
            (4, "R", "CC"): [("Spiculated Region", MASS)], (4, "R", "MLO"): [("Distortion", TRI)],
            (5, "L", "CC"): [("Assymetry", MASS)], (5, "L", "MLO"): [("Asymmetry", TRI)],
            (6, "R", "CC"): [("Mass", MASS), ("Calcification", [(40.5, 50.25)]), ("Cluster", CLUSTER)],
            (6, "R", "MLO"): [("Mass", TRI), ("Calcification", [(20.0, 50.0), (22.0, 52.0)])],
            (7, "R", "CC"): [("Mass", MASS)], (7, "R", "MLO"): [("Mass", TRI)],
            (7, "L", "CC"): [("Calcification", [(15.0, 45.0)])]}


def inb_file_id(p, side, view): return str(22670000 + 100 * p + 10 * (side == "L") + (view == "MLO"))

def make_inbreast_real(root, xml=True):
    ("INbreast as distributed: 32 images of 8 patients (four views each), the semicolon INbreast.csv, one plist per "
     "image with ROIs.")
    root, rng = Path(root), np.random.default_rng(41)
    rows = []
    for p, pid in enumerate(INB_PATIENTS):
        for side, view in [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]:
            fid = inb_file_id(p, side, view)
            testing.write_dicom(root / "AllDICOMs" / f"{fid}_{pid}_MG_{side}_{view}_ANON.dcm",
                           rng.integers(0, 16383, (64, 48)), bits=14, spacing=(0.07, 0.07))
            rows.append(["removed", "removed", side, view, "201001" if p % 2 else "200912", fid, str(1 + p % 4),
                         INB_BIRADS[p][side == "L"]])
            rois = INB_ROIS.get((p, side, view))
            if rois and xml:
                (root / "AllXML").mkdir(parents=True, exist_ok=True)
                pl = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois),
                                  "ROIs": [testing.inbreast_roi(n, pts) for n, pts in rois]}]}
                (root / "AllXML" / f"{fid}.xml").write_bytes(plistlib.dumps(pl, fmt=plistlib.FMT_XML))
    testing.write_csv(root / "INbreast.csv",
                 ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date", "File Name", "ACR", "Bi-Rads"],
                 rows, sep=";")
    return root

def inb_expected(point_radius=None):
    ("lesion_id -> (label, Name) as the definition says: the image's BI-RADS 1-3 benign, 4-6 malignant, for every "
     "outlined ROI.")
    out = {}
    for (p, side, view), rois in INB_ROIS.items():
        cat = parse_birads(INB_BIRADS[p][side == "L"])[0]
        for k, (name, pts) in enumerate(rois, 1):
            if len(pts) >= 3 or point_radius: out[f"{inb_file_id(p, side, view)}_{k}"] = (int(cat >= 4), name)
    return dict(sorted(out.items()))


@pytest.fixture(scope="module")
def inbreast_real(tmp_path_factory): return make_inbreast_real(tmp_path_factory.mktemp("inb") / "INbreast")


def test_inbreast_real_labels_are_the_images_birads(inbreast_real):
    d = open_dataset(f"inbreast:{inbreast_real}")
    df, want = d.manifest, inb_expected()
    assert manifest_problems(df).empty and len(df) == len(want) == 14
    assert dict(zip(df.lesion_id, zip(df.label, df.inbreast_name))) == want
    assert set(df.label_source) == {"image BI-RADS"} and d.birads_labels \
        == {"benign": [1, 2, 3], "malignant": [4, 5, 6]}
    # a mass and a cluster on one BI-RADS 5 image: both malignant
    five = df[df.birads == "5"]
    assert set(five.lesion_type) == {"mass", "calcification"} and set(five.label) == {1}
    assert d.labels \
        == ("labels: image BI-RADS (not pathology: each lesion takes its image's BI-RADS) for 14 lesions: "
                                   "1-3 -> benign, 4-6 -> malignant")
    assert sorted(set(df.birads)) == ["2", "3", "4a", "4b", "4c", "5", "6"]


def test_inbreast_point_radius_from_the_message_to_the_spec(inbreast_real):
    reasons = skipped(open_dataset(f"inbreast:{inbreast_real}"))
    points = {lid: r for lid, r in reasons.items() if "point(s)" in r}
    assert len(points) == 8 and len(reasons) == 8
    hint = "to make such ROIs circles of R pixels, set point_radius in the spec: inbreast:PATH?point_radius=R"
    assert all(r.endswith(hint) for r in points.values()), points
    d = open_dataset(hinted_spec(next(iter(points.values())), inbreast_real, point_radius=8))
    df = d.manifest
    assert dict(zip(df.lesion_id, zip(df.label, df.inbreast_name))) == inb_expected(point_radius=8) and not d.skipped
    calc = df.set_index("lesion_id").loc[f"{inb_file_id(6, 'R', 'CC')}_2"]
    assert json.loads(calc.roi) == {"circle": [40.5, 50.25, 8.0]} and calc.label == 1 and calc.lesion_type \
        == "calcification"


def test_inbreast_birads_split_from_the_message_to_the_spec(inbreast_real):
    d = open_dataset(f"inbreast:{inbreast_real}?malignant_birads=5,6")
    reason = skipped(d)[f"{inb_file_id(3, 'R', 'CC')}_1"]
    assert "BI-RADS 4a is neither benign (1-3) nor malignant (5-6); to count it as malignant" in reason
    assert hinted_spec(reason, inbreast_real).endswith("?benign_birads=1,2,3&malignant_birads=4,5,6")
    assert len(load_dataset(hinted_spec(reason, inbreast_real))) == 14
    assert d.birads_labels == {"benign": [1, 2, 3], "malignant": [5, 6]}
    assert d.labels.endswith(": 1-3 -> benign, 5-6 -> malignant")


def test_inbreast_without_outlines(tmp_path):
    root = make_inbreast_real(tmp_path / "inb", xml=False)
    with pytest.raises(FileNotFoundError,
                       match=r"inbreast: folder .*AllXML not found \(the lesion outlines"):
        load_dataset(f"inbreast:{root}")
    (root / "AllXML").mkdir()
    with pytest.raises(ValueError,
                       match=r"no lesion loaded: .*AllXML holds no .xml file"): load_dataset(f"inbreast:{root}")
    (root / "AllXML" / f"{inb_file_id(0, 'R', 'CC')}.xml").write_bytes(
        plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": 0, "ROIs": []}]}))
    with pytest.raises(ValueError,
                       match=r"no lesion loaded: the 1 XML file\(s\) in .*AllXML hold no ROI"):
        load_dataset(f"inbreast:{root}")


# ================================================================ VinDr-Mammo: finding_annotations.csv
VINDR_COLUMNS = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width", "breast_birads",
                 "breast_density",
                 "finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax", "split"]
VIEWS = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]
# (study, view index) -> findings (finding_categories as written, finding_birads, box)
VINDR_FINDINGS = {
    (0, 0): [("['Mass']", "BI-RADS 4", [10.25, 12.5, 30.75, 40.0])],
    (0, 1): [("['Mass']", "BI-RADS 4", [12.0, 15.5, 28.25, 38.0])],
    (1, 2): [("['Suspicious Calcification']", "BI-RADS 4", [5.5, 6.0, 20.0, 18.25]),
             ("['Mass', 'Suspicious Calcification']", "BI-RADS 5", [20.0, 25.0, 45.5, 55.0])],
    (1, 3): [("['Suspicious Calcification']", "BI-RADS 4", [8.0, 9.0, 22.5, 21.0])],
    (2, 0): [("['Focal Asymmetry']", "BI-RADS 3", [3.0, 4.0, 25.0, 30.0])],
    (2, 1): [("['Focal Asymmetry']", "BI-RADS 3", [4.0, 6.0, 27.0, 33.5])],
    (3, 2): [("['Suspicious Lymph Node']", "BI-RADS 3", [1.0, 1.0, 9.0, 9.0])],
    (3, 3): [("['Architectural Distortion']", "BI-RADS 4", [15.0, 20.0, 35.0, 45.0])],
    (4, 0): [("['Mass']", "BI-RADS 3", [10.0, 10.0, 20.0, 22.0]),
             ("['Skin Thickening']", "BI-RADS 3", [0.0, 0.0, 6.0, 50.0])],
    (4, 1): [("['Mass']", "BI-RADS 3", [11.0, 12.0, 21.0, 25.0])],
    (5, 2): [("['Global Asymmetry']", "BI-RADS 3", [2.0, 2.0, 40.0, 50.0]),
             ("['Nipple Retraction']", "BI-RADS 4", [40.0, 30.0, 49.0, 40.0])],
    (5, 3): [("['Asymmetry']", "BI-RADS 3", [5.0, 5.0, 35.0, 45.0])],
    (6, 0): [("['Mass']", "BI-RADS 5", [12.5, 14.0, 33.0, 36.0]),
             ("['Skin Retraction']", "BI-RADS 5", [44.0, 2.0, 49.5, 12.0])],
    (6, 1): [("['Mass']", "BI-RADS 5", [13.0, 15.0, 35.0, 40.0])],
    (7, 2): [("['Mass']", "", [10.0, 10.0, 25.0, 25.0])],
    (7, 3): [("['Suspicious Calcification', 'Focal Asymmetry']", "BI-RADS 4", [9.0, 11.0, 30.0, 35.5])]}
VINDR_LESION_TYPES = {"Mass": "mass", "Suspicious Calcification": "calcification", "Focal Asymmetry": "asymmetry",
                      "Global Asymmetry": "asymmetry",
                      "Asymmetry": "asymmetry", "Architectural Distortion": "distortion"}

def hexid(*parts): return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()

def vindr_rows(studies=range(8), findings=VINDR_FINDINGS):
    "finding_annotations.csv rows: one per finding box, and one 'No Finding' row per image without any."
    rows = []
    for s in studies:
        sid = hexid("study", s)
        for v, (side, view) in enumerate(VIEWS):
            base = [sid, hexid("series", s), hexid("image", s, v), side, view, 60, 50, f"BI-RADS {1 + s % 5}",
                    f"DENSITY {'ABCD'[s % 4]}"]
            split = "test" if s >= 6 else "training"
            for cats, fb, box in findings.get((s, v), [("['No Finding']", "", None)]):
                rows.append(base + [cats, fb, *([f"{x:.2f}" for x in box] if box else [""] * 4), split])
    return rows

def make_vindr_real(root, rows=None, images=True):
    "VinDr-Mammo as on PhysioNet: images/<study_id>/<image_id>.dicom and finding_annotations.csv."
    root, rng = Path(root), np.random.default_rng(7)
    rows = vindr_rows() if rows is None else rows
    if images:
        for r in {(r[0], r[2]): r for r in rows}.values():
            testing.write_dicom(root / "images" / r[0] / f"{r[2]}.dicom", rng.integers(0, 4095, (60, 50)), bits=12,
                           spacing=(0.085, 0.085))
    testing.write_csv(root / "finding_annotations.csv", VINDR_COLUMNS, rows)
    return root


@pytest.fixture(scope="module")
def vindr_real(tmp_path_factory): return make_vindr_real(tmp_path_factory.mktemp("vindr") / "vindr")


def test_vindr_real_labels_are_the_findings_birads(vindr_real):
    rows = vindr_rows()
    d = open_dataset(f"vindr-mammo:{vindr_real}")
    df = d.manifest
    lesions = [r for r in rows if r[10] and any(c in VINDR_LESION_TYPES for c in ast.literal_eval(r[9]))]
    assert len(rows) == 36 and manifest_problems(df).empty and len(df) == len(lesions) == 15
    assert list(df.label) == [int(r[10] in ("BI-RADS 4", "BI-RADS 5")) for r in lesions]
    assert int(df.label.sum()) == 9 and int(((df.label == 1) & (df.birads == "4")).sum()) == 6
    assert set(df.label_source) == {"lesion BI-RADS"} and d.birads_labels \
        == {"benign": [3], "malignant": [4, 5]}
    assert d.labels == "labels: lesion BI-RADS (not pathology) for 15 lesions: 3 -> benign, 4-5 -> malignant"
    s = skipped(d)                                                     # No Finding rows are neither lesions nor skipped
    assert len(s) == 5 and sum("name no lesion type" in r for r in s.values()) == 4
    blank = next(i for i, r in enumerate(rows) if r[9] == "['Mass']" and not r[10])
    assert [r for r in s.values() if "BI-RADS" in r] \
        == [f"finding_annotations.csv line {blank + 2}: no BI-RADS category given"]
    assert list(df.split.unique()) == ["train", "test"] and set(df.density) == {"A", "B", "C", "D"}


def test_vindr_birads_split_from_the_message_to_the_spec(vindr_real):
    d = open_dataset(f"vindr-mammo:{vindr_real}?malignant_birads=5")
    fours = {lid: r for lid, r in skipped(d).items() if "BI-RADS 4 is neither" in r}
    # the nipple retraction (BI-RADS 4) is no lesion: skipped as such
    assert len(fours) == 6 and len(d.manifest) == 9
    hint = ("to count it as malignant, set benign_birads / malignant_birads in the spec: "
            "vindr-mammo:PATH?benign_birads=3&malignant_birads=4,5")
    assert all(r.endswith(hint) for r in fours.values())
    assert len(load_dataset(hinted_spec(next(iter(fours.values())), vindr_real))) == 15
    wider = open_dataset(f"vindr-mammo:{vindr_real}?benign_birads=2,3&malignant_birads=4,5,6")
    assert wider.birads_labels == {"benign": [2, 3], "malignant": [4, 5, 6]}
    assert wider.labels.endswith(": 2-3 -> benign, 4-6 -> malignant")


def test_vindr_empty_loads_say_why(tmp_path):
    only_normal = make_vindr_real(tmp_path / "a", vindr_rows(findings={}))
    with pytest.raises(ValueError,
                       match=r"no lesion loaded: the 32 row\(s\) of .*finding_annotations.csv "
                             r"are all images without finding"):
        load_dataset(f"vindr-mammo:{only_normal}")
    header_only = make_vindr_real(tmp_path / "b", [])
    (header_only / "images").mkdir()
    with pytest.raises(ValueError, match=r"no lesion loaded: .*finding_annotations.csv has a header and no rows"):
        load_dataset(f"vindr-mammo:{header_only}")
    no_images = make_vindr_real(tmp_path / "c", images=False)
    with pytest.raises(FileNotFoundError, match=r"vindr-mammo: folder .*images not found \(the DICOMs"):
        load_dataset(f"vindr-mammo:{no_images}")


# ================================================================ the command line, with options in the spec
def test_cli_extract_takes_loader_options_in_the_spec(inbreast_real, tmp_path):
    out = tmp_path / "f.parquet"
    r = radllm("extract", f"inbreast:{inbreast_real}?point_radius=8", "--out", out, "--cache-dir", tmp_path / "cache",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "22 extracted, 0 skipped, 0 failed" in r.stdout
    qc = pd.read_csv(tmp_path / "f.qc.csv", keep_default_na=False)
    assert set(pd.read_parquet(out).index) == set(inb_expected(point_radius=8)) \
        and not qc.reason.str.contains("point_radius").any()
    r = radllm("extract", f"inbreast:{inbreast_real}", "--out", tmp_path / "g.parquet", "--cache-dir",
               tmp_path / "cache", cwd=tmp_path)
    qc = pd.read_csv(tmp_path / "g.qc.csv")
    assert r.returncode == 0 and "14 extracted, 8 skipped, 0 failed" in r.stdout
    assert qc[qc.status == "skipped"].reason.str.endswith(
        "set point_radius in the spec: inbreast:PATH?point_radius=R").all()

def test_cli_refuses_an_unknown_option_and_a_missing_outline_folder(inbreast_real, tmp_path):
    r = radllm("extract", f"inbreast:{inbreast_real}?point_radus=5", "--out", tmp_path / "f.parquet", cwd=tmp_path)
    assert r.returncode == 2
    assert "unknown option 'point_radus' for inbreast (known: benign_birads, malignant_birads, point_radius)" \
        in r.stderr
    bare = make_inbreast_real(tmp_path / "bare", xml=False)
    r = radllm("extract", f"inbreast:{bare}", "--out", tmp_path / "g.parquet", cwd=tmp_path)
    assert r.returncode == 2 and "AllXML not found (the lesion outlines" in r.stderr and "0 extracted" not in r.stdout


# ================================================================ every option a message names is one the user can set
def messages(cbis_root, inb_root, vindr_root, tmp_path) -> list[tuple[str, str]]:
    "(loader, message) for every skip reason, warning and error the fixtures here produce."
    out = []
    def run(kind, spec):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try: d = open_dataset(spec)
            except (ValueError, FileNotFoundError) as e:
                out.append((kind, str(e)))
                return
        out.extend((kind, str(x.message)) for x in w)
        out.extend((kind, s["reason"]) for s in d.skipped)
    partial = make_cbis_real(tmp_path / "cbis", {k: v[:1] for k, v in CBIS_ROWS.items() if k != "calc_train"})
    for spec in [f"cbis-ddsm:{partial}", f"cbis-ddsm:{partial}?subsets=calc_train,mass_test",
                 f"cbis-ddsm:{cbis_root}?subsets=mass",
                 f"inbreast:{inb_root}", f"inbreast:{inb_root}?malignant_birads=5,6",
                 f"inbreast:{inb_root}?benign_birads=1,2,3,4",
                 f"inbreast:{inb_root}?benign_birads=2&malignant_birads=5",
                 f"vindr-mammo:{vindr_root}?malignant_birads=5",
                 f"vindr-mammo:{vindr_root}?benign_birads=3,4"]:
        run(parse_dataset_spec(spec).kind, spec)
    return out

def test_every_option_a_message_names_is_real_and_shown_in_a_spec(cbis_real, inbreast_real, vindr_real, tmp_path):
    msgs = messages(cbis_real, inbreast_real, vindr_real, tmp_path)
    naming = [(k, m) for k, m in msgs if re.search(rf"\b({'|'.join(ALL_OPTIONS)})\b", m)]
    assert len(naming) >= 20 and {k for k, _ in naming} == {"cbis-ddsm", "inbreast", "vindr-mammo"}
    for kind, m in naming:
        named = set(re.findall(rf"\b({'|'.join(ALL_OPTIONS)})\b", m))
        specs = re.findall(r"\b([a-z][a-z0-9-]*):PATH\?([^\s);]+)", m)
        assert specs, f"names {named} but shows no spec: {m}"
        for spec_kind, query in specs:
            assert spec_kind == kind, m
            assert {kv.split("=")[0] for kv in query.split("&")} <= set(loader_options(kind)), m
        assert named <= set(loader_options(kind)), m

def test_option_hints_in_the_source_name_real_options():
    ("Every option_hint call with a literal loader names that loader's options; every message that names an option "
     "calls option_hint.")
    tree = ast.parse(Path(data.__file__).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "option_hint"]
    literal = [c for c in calls if isinstance(c.args[0], ast.Constant)]
    assert len(calls) >= 6 and len(literal) >= 4
    for c in literal:
        assert {k.arg for k in c.keywords} <= set(loader_options(c.args[0].value)), ast.unparse(c)
    word = re.compile(rf"\b({'|'.join(ALL_OPTIONS)})\b")
    def is_message(n):
        return (isinstance(n, ast.Raise)
                or (isinstance(n, ast.Call)
                    and getattr(n.func, "id", getattr(n.func, "attr", None)) in ("skip", "warn"))
                or (isinstance(n, ast.Dict)
                    and any(isinstance(k, ast.Constant) and k.value == "reason" for k in n.keys)))
    reasons = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name.endswith("_reason")]
    nodes = [n for n in ast.walk(tree) if is_message(n)] \
        + [r for f in reasons for r in ast.walk(f) if isinstance(r, ast.Return)]
    bad = []
    for n in nodes:
        text = " ".join(s.value for s in ast.walk(n) if isinstance(s, ast.Constant) and isinstance(s.value, str))
        hinted = any(isinstance(c, ast.Call) and getattr(c.func, "id", None) == "option_hint" for c in ast.walk(n))
        if word.search(text) and not hinted: bad.append(ast.unparse(n)[:160])
    assert len(nodes) > 20 and not bad, "messages that name a loader option without showing the spec:\n" \
        + "\n".join(bad)


# ================================================================ label sources of the other loaders
def test_manifest_csv_label_source(tmp_path):
    base = pd.DataFrame({"lesion_id": ["a", "b", "c"], "patient_id": ["p", "p", "q"], "image": ["x.png"] * 3,
                         "label": [0, 1, 1],
                         "roi": ['{"circle": [5, 5, 3]}'] * 3})
    base.to_csv(tmp_path / "plain.csv", index=False)
    df = load_dataset(f"manifest:{tmp_path / 'plain.csv'}")
    assert list(df.label_source) == ["unstated"] * 3
    assert describe_labels(df) == "labels: unstated (the manifest does not say what they rest on) for 3 lesions"
    base.assign(label_source=["pathology", "", "lesion BI-RADS"],
                birads=["3", "", "4"]).to_csv(tmp_path / "said.csv", index=False)
    df = load_dataset(f"manifest:{tmp_path / 'said.csv'}")
    assert label_sources(df) == {"pathology": 1, "lesion BI-RADS": 1, "unstated": 1}
    assert describe_labels(df) \
        == ("labels: pathology for 1 lesion; lesion BI-RADS (not pathology) for 1 lesion: none -> benign, 4 -> "
            "malignant; "
                                   "unstated (the manifest does not say what they rest on) for 1 lesion")
    base.assign(label_source=["biopsy", "pathology", "pathology"]).to_csv(tmp_path / "bad.csv", index=False)
    p = manifest_problems(load_dataset(f"manifest:{tmp_path / 'bad.csv'}"), check_files=False)
    assert list(p.problem) == [f"label_source must be one of {list(LABEL_SOURCES)}, got 'biopsy'"] \
        and list(p.lesion_id) == ["a"]

def test_mini_mias_labels_are_the_databases(mias_dir):
    df = load_dataset(f"mini-mias:{mias_dir}")
    assert set(df.label_source) == {"database truth"}
    assert describe_labels(df) \
        == f"labels: database truth (the database's severity, not stated to be pathology) for {len(df)} lesions"
    info = (mias_dir / "Info.txt").read_text(errors="replace")
    assert "Truth-Data: C R M Boggis and I Hutt" in info and not re.search(r"biops|patholog|histolog", info, re.I)

def test_synthetic_labels_are_the_generators():
    df = load_dataset("synthetic:12")
    assert label_sources(df) == {"synthetic": 12} and describe_labels(df) == "labels: synthetic for 12 lesions"
