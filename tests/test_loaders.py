"""The cbis-ddsm, inbreast and vindr-mammo loaders on tiny datasets written in the real formats (radllm.testing)."""
import csv, json, warnings

import numpy as np
import pytest

from radllm import testing
from radllm.data import RoiError, load_dataset, manifest_problems, read_image, roi_mask



def skipped(df): return {s["lesion_id"]: s["reason"] for s in df.attrs["skipped"]}

def masks(df):
    "lesion_id -> mask (or the RoiError) for every row, through read_image + roi_mask."
    out = {}
    for r in df.to_dict("records"):
        try: out[r["lesion_id"]] = roi_mask(r, read_image(r["image"]).shape)
        except RoiError as e: out[r["lesion_id"]] = e
    return out

def rewrite_csv(path, edit, sep=","):
    "Apply `edit(list_of_rows_with_header) -> rows` to a CSV file."
    with open(path, newline="") as f: rows = list(csv.reader(f, delimiter=sep))
    with open(path, "w", newline="") as f: csv.writer(f, delimiter=sep).writerows(edit(rows))


# ---------------------------------------------------------------- cbis-ddsm
@pytest.fixture
def cbis(tmp_path): return testing.make_cbis_ddsm(tmp_path / "cbis")

def load_cbis(root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(f"cbis-ddsm:{root}", **kw)

def test_cbis_ddsm(cbis):
    with pytest.warns(UserWarning, match="calc_case_description_train_set.csv not found"):
        df = load_dataset(f"cbis-ddsm:{cbis}")
    assert manifest_problems(df).empty
    assert list(df.lesion_id) == ["Mass-Training_P_00001_LEFT_CC_1", "Mass-Training_P_00001_LEFT_CC_2",
                                  "Mass-Training_P_00004_RIGHT_MLO_1", "Calc-Test_P_00038_LEFT_CC_1"]
    assert list(df.label) == [1, 0, 0, 1]
    assert list(df.patient_id) == ["P_00001", "P_00001", "P_00004", "P_00038"]
    assert list(df.split) == ["train", "train", "train", "test"]
    assert list(df.lesion_type) == ["mass", "mass", "mass", "calcification"]
    assert list(df.birads) == ["4", "3", "3", "4"] and list(df.density) == ["3", "3", "3", "2"]
    assert list(df.view) == ["CC", "CC", "MLO", "CC"] and list(df.laterality) == ["L", "L", "R", "L"]
    m = masks(df)
    assert m["Mass-Training_P_00001_LEFT_CC_1"].sum() == 80 and m["Mass-Training_P_00001_LEFT_CC_1"][6:14, 5:15].all()
    assert m["Mass-Training_P_00001_LEFT_CC_2"].sum() == 100 and m["Calc-Test_P_00038_LEFT_CC_1"][30:40, 10:16].all()
    e = m["Mass-Training_P_00004_RIGHT_MLO_1"]
    assert isinstance(e,
                      RoiError) and "Mass-Training_P_00004_RIGHT_MLO_1" in str(e) and "20x24 but the image is 40x48" \
                          in str(e)
    s = skipped(df)
    assert set(s) == {"Mass-Training_P_00005_RIGHT_CC_1", "Calc-Test_P_00038_LEFT_CC_2"}
    assert "mass_case_description_train_set.csv line 5: full mammogram not found" \
        in s["Mass-Training_P_00005_RIGHT_CC_1"]
    assert "Mass-Training_P_00005_RIGHT_CC" in s["Mass-Training_P_00005_RIGHT_CC_1"] and "download" \
        in s["Mass-Training_P_00005_RIGHT_CC_1"]
    assert "pathology ''" in s["Calc-Test_P_00038_LEFT_CC_2"]

def test_cbis_no_table_names_the_four(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match="mass_case_description_train_set.csv.*calc_case_description_test_set.csv"):
        load_dataset(f"cbis-ddsm:{tmp_path}")

def test_cbis_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder not found"): load_dataset(f"cbis-ddsm:{tmp_path / 'nope'}")

def test_cbis_subsets(cbis):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # a named subset reads only its table and warns about none
        df = load_dataset(f"cbis-ddsm:{cbis}", subsets=["calc_test"])
    assert list(df.lesion_id) == ["Calc-Test_P_00038_LEFT_CC_1"]
    with pytest.raises(FileNotFoundError, match="mass_case_description_test_set.csv not found"):
        load_dataset(f"cbis-ddsm:{cbis}", subsets=["mass_test"])
    with pytest.raises(ValueError, match="unknown subset"): load_dataset(f"cbis-ddsm:{cbis}", subsets=["mass"])

def test_cbis_tables_in_a_subfolder(cbis):
    (cbis / "csv").mkdir()
    for p in cbis.glob("*.csv"): p.rename(cbis / "csv" / p.name)
    assert len(load_cbis(cbis)) == 4

def test_cbis_missing_column_names_it(cbis):
    rewrite_csv(cbis / "mass_case_description_train_set.csv", lambda rows: [r[:9] + r[10:] for r in rows])
    with pytest.raises(ValueError, match=r"mass_case_description_train_set.csv lacks column\(s\) \['pathology'\]"):
        load_cbis(cbis)

def test_cbis_swapped_mask_and_cropped_paths(cbis):
    "Some real rows give the cropped image as 'ROI mask file path': the header tells them apart."
    def swap(rows):
        for r in rows[1:]:
            if r[0] == "P_00004": r[12], r[13] = r[13], r[12]
        return rows
    rewrite_csv(cbis / "mass_case_description_train_set.csv", swap)
    df = load_cbis(cbis).set_index("lesion_id")
    assert df.loc["Mass-Training_P_00004_RIGHT_MLO_1", "mask"].endswith("000001.dcm")

def test_cbis_ambiguous_mask_is_skipped(cbis):
    series = next((cbis / "CBIS-DDSM").glob("Mass-Training_P_00001_LEFT_CC_2/*/*"))
    # now both files are binary
    testing.write_dicom(series / "1-1.dcm", np.where(np.eye(10), 255, 0), bits=8, spacing=None)
    s = skipped(load_cbis(cbis))
    assert "ROI mask not identified" in s["Mass-Training_P_00001_LEFT_CC_2"] and "2 of them binary" \
        in s["Mass-Training_P_00001_LEFT_CC_2"]

def test_cbis_only_cropped_image_is_skipped(cbis):
    for p in (cbis / "CBIS-DDSM").glob("Mass-Training_P_00001_LEFT_CC_1/*/*ROI mask*/*.dcm"): p.unlink()
    s = skipped(load_cbis(cbis))
    assert "ROI mask not found" in s["Mass-Training_P_00001_LEFT_CC_1"] and "cropped" \
        in s["Mass-Training_P_00001_LEFT_CC_1"]

def test_cbis_duplicate_and_unknown_pathology(cbis):
    def edit(rows):
        rows.append(list(rows[1]))
        rows[2][9] = "MALIGNANT?"
        return rows
    rewrite_csv(cbis / "mass_case_description_train_set.csv", edit)
    df = load_cbis(cbis)
    s = skipped(df)
    assert "pathology 'MALIGNANT?'" in s["Mass-Training_P_00001_LEFT_CC_2"]
    assert [r["reason"] for r in df.attrs["skipped"] if "duplicate abnormality" in r["reason"]] == \
        ["mass_case_description_train_set.csv line 6: duplicate abnormality (first at "
         "mass_case_description_train_set.csv line 2)"]
    assert list(df.lesion_id).count("Mass-Training_P_00001_LEFT_CC_1") == 1


# ---------------------------------------------------------------- inbreast
@pytest.fixture
def inbreast(tmp_path): return testing.make_inbreast(tmp_path / "inbreast")

def test_inbreast(inbreast):
    df = load_dataset(f"inbreast:{inbreast}")
    assert manifest_problems(df).empty
    assert list(df.lesion_id) == ["20586908_1", "20586908_3", "20586934_1"]
    assert list(df.label) == [1, 1, 0] and set(df.patient_id) == {"6c613a14b80a8591"}
    assert list(df.lesion_type) == ["mass", "calcification",
                                    "asymmetry"] and list(df.inbreast_name) == ["Mass", "Cluster", "Assymetry"]
    assert list(df.laterality) == ["R", "R", "L"] and list(df.birads) == ["4c", "4c", "2"]
    assert json.loads(df.roi[2]) == {"polygon": [[10.0, 10.0], [40.0, 10.0], [40.0, 30.0]]}
    m = masks(df)
    assert m["20586908_3"].sum() == 256 and m["20586908_3"][40:56, 5:21].all()
    # right triangle (10,10) (40,10) (40,30): above the diagonal
    tri = m["20586934_1"]
    assert tri[10, 40] and tri[29, 39] and not tri[29, 12] and 300 < tri.sum() < 360
    s = skipped(df)
    assert set(s) == {"20586908_2", "20586934_2", "22614266_1"}
    assert "1 point(s)" in s["20586908_2"] and "'Unnamed'" in s["20586934_2"] and "unreadable BI-RADS '?'" \
        in s["22614266_1"]

def test_inbreast_birads_subcategories_and_options(inbreast):
    rewrite_csv(inbreast / "INbreast.csv",
                lambda rows: [r[:7] + [{"?": "4A", "4c": "BI-RADS 4b"}.get(r[7], r[7])] for r in rows], sep=";")
    df = load_dataset(f"inbreast:{inbreast}").set_index("lesion_id")
    assert df.loc["22614266_1", "label"] == 1 and df.loc["22614266_1",
                                                         "birads"] == "4a" and df.loc["20586908_1", "birads"] == "4b"
    df = load_dataset(f"inbreast:{inbreast}", benign_birads=(1, 2, 3, 4),
                      malignant_birads=(5, 6)).set_index("lesion_id")
    assert df.loc["20586908_1", "label"] == 0
    with pytest.raises(ValueError,
                       match="overlap on \\[4\\]"): load_dataset(f"inbreast:{inbreast}", benign_birads=(1, 2, 3, 4))

def test_inbreast_point_radius(inbreast):
    df = load_dataset(f"inbreast:{inbreast}", point_radius=2).set_index("lesion_id")
    assert json.loads(df.loc["20586908_2", "roi"]) == {"circle": [40.5, 50.25, 2.0]} \
        and df.loc["20586908_2", "lesion_type"] == "calcification"
    assert roi_mask(df.loc["20586908_2"], (64, 48)).sum() == 14          # pixel centres within 2 px of (40.5, 50.25)

def test_inbreast_missing_csv(inbreast):
    (inbreast / "INbreast.csv").unlink()
    with pytest.raises(FileNotFoundError, match="INbreast.csv not found"): load_dataset(f"inbreast:{inbreast}")
    (inbreast / "INbreast.xls").write_bytes(b"\xd0\xcf")
    with pytest.raises(FileNotFoundError,
                       match="save INbreast.xls as a semicolon-separated INbreast.csv"):
        load_dataset(f"inbreast:{inbreast}")

def test_inbreast_comma_csv_says_separator(inbreast):
    rewrite_csv(inbreast / "INbreast.csv", lambda rows: [[",".join(r)] for r in rows], sep=";")
    text = (inbreast / "INbreast.csv").read_text().replace('"', "")
    (inbreast / "INbreast.csv").write_text(text)
    with pytest.raises(ValueError, match="lacks column.*separated by ';'"): load_dataset(f"inbreast:{inbreast}")

def test_inbreast_missing_images_folder(inbreast):
    for p in (inbreast / "AllDICOMs").iterdir(): p.unlink()
    (inbreast / "AllDICOMs").rmdir()
    with pytest.raises(FileNotFoundError, match="AllDICOMs not found"): load_dataset(f"inbreast:{inbreast}")

def test_inbreast_orphans_and_broken_xml(inbreast):
    (inbreast / "AllXML" / "22614236.xml").write_text("<plist><dict><key>Images</key>")          # truncated plist
    # the XML of an image listed nowhere, and a listed image whose DICOM is gone
    (inbreast / "AllXML" / "99999999.xml").write_bytes((inbreast / "AllXML" / "20586934.xml").read_bytes())
    next((inbreast / "AllDICOMs").glob("20586934_*")).unlink()
    df = load_dataset(f"inbreast:{inbreast}")
    s = skipped(df)
    assert "cannot read the ROIs" in s["22614236"] and "22614236.xml" in s["22614236"]
    assert "INbreast.csv has no row for file 99999999" in s["99999999"]
    assert "no DICOM 20586934_*.dcm" in s["20586934_1"] and "20586934_1" not in set(df.lesion_id)

def test_inbreast_bad_point_string(inbreast):
    xml = inbreast / "AllXML" / "20586934.xml"
    xml.write_text(xml.read_text().replace("(40.000000, 30.000000)", "(40.0 30.0 1.0)"))
    assert "is not '(x, y)'" in skipped(load_dataset(f"inbreast:{inbreast}"))["20586934"]


# ---------------------------------------------------------------- vindr-mammo
@pytest.fixture
def vindr(tmp_path): return testing.make_vindr_mammo(tmp_path / "vindr")

I1, I3, I4 = "d213aba1f2ef4a8e5a3e53d1e3a8b8d0", "4e3a0f2b6c5d7e8f9a0b1c2d3e4f5a6b", "7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c"

def test_vindr_mammo(vindr):
    df = load_dataset(f"vindr-mammo:{vindr}")
    assert manifest_problems(df).empty
    assert list(df.lesion_id) == [f"{I1}_1", f"{I1}_2", f"{I3}_1"] and list(df.label) == [1, 0, 0]
    assert list(df.patient_id) == ["0025a5dc99fd5c742026f0b2b030d3e9"] * 2 + ["9d6e2b8a1f0c4e7d8a3b5c6d7e8f9a0b"]
    assert list(df.lesion_type) == ["mass", "mass", "distortion"] and list(df.split) == ["train", "train", "test"]
    assert list(df.view) == ["CC", "CC", "CC"] and list(df.laterality) == ["L", "L", "R"]
    m = masks(df)
    assert m[f"{I1}_1"].sum() == 20 * 17 and m[f"{I1}_1"][12:29, 11:31].all()
    assert m[f"{I1}_2"].sum() == 8 * 5 and m[f"{I3}_1"].sum() == 21 * 21
    s = skipped(df)
    assert list(s) == [f"{I3}_2", f"{I4}_1", f"{I4}_2", f"{I4}_3"]

def set_distortion_birads(vindr, value):
    "Give the fixture's distortion finding (image I3) another finding_birads."
    rewrite_csv(vindr / "finding_annotations.csv",
                lambda rows: [r[:10] + [value if r[9] == "['Architectural Distortion']" else r[10]] + r[11:]
                              for r in rows])

def test_vindr_default_is_the_papers_split(vindr):
    ("BI-RADS 3 benign, 4-5 malignant; a BI-RADS 2 finding (not in the release, which boxes only BI-RADS 3-5) is "
     "skipped with the spec that counts it.")
    set_distortion_birads(vindr, "BI-RADS 2")
    df = load_dataset(f"vindr-mammo:{vindr}")
    assert list(df.lesion_id) == [f"{I1}_1",
                                  f"{I1}_2"] and df.attrs["birads_labels"] == {"benign": [3], "malignant": [4, 5]}
    reason = skipped(df)[f"{I3}_1"]
    assert reason \
        == ("finding_annotations.csv line 5: BI-RADS 2 is neither benign (3) nor malignant (4-5); to count it as "
            "benign, "
                      "set benign_birads / malignant_birads in the spec: "
                      "vindr-mammo:PATH?benign_birads=2,3&malignant_birads=4,5")
    hinted = load_dataset(reason.split("in the spec: ")[1].replace("PATH", str(vindr)))
    assert hinted.set_index("lesion_id").label[f"{I3}_1"] == 0

def test_vindr_birads_1_is_skipped(vindr):
    set_distortion_birads(vindr, "BI-RADS 1")
    assert "BI-RADS 1 is neither" in skipped(load_dataset(f"vindr-mammo:{vindr}"))[f"{I3}_1"]

def test_vindr_missing_annotations(vindr):
    (vindr / "finding_annotations.csv").unlink()
    with pytest.raises(FileNotFoundError,
                       match="finding_annotations.csv not found"): load_dataset(f"vindr-mammo:{vindr}")

def test_vindr_missing_column(vindr):
    rewrite_csv(vindr / "finding_annotations.csv", lambda rows: [r[:10] + r[11:] for r in rows])
    with pytest.raises(ValueError,
                       match=r"lacks column\(s\) \['finding birads'\]"): load_dataset(f"vindr-mammo:{vindr}")

def test_vindr_missing_dicom_keeps_row(vindr):
    next(vindr.rglob(f"{I3}.dicom")).unlink()
    df = load_dataset(f"vindr-mammo:{vindr}")
    assert f"{I3}_1" in set(df.lesion_id)
    p = manifest_problems(df)
    assert list(p.lesion_id) == [f"{I3}_1"] and "image file not found" in p.problem[0]

def test_vindr_inverted_box_is_skipped(vindr):
    rewrite_csv(vindr / "finding_annotations.csv",
                lambda rows: [r[:11] + ([r[13], r[12], r[11], r[14]] if r[10] == "BI-RADS 4" else r[11:15]) + r[15:]
                              for r in rows])
    assert "x0 <= x1" in skipped(load_dataset(f"vindr-mammo:{vindr}"))[f"{I1}_1"]


# ---------------------------------------------------------------- issue 18, class 6: a bad value in a user's table
def _manifest(tmp_path, labels, sep=",", encoding="utf-8", name="manifest.csv"):
    rows = [sep.join(["lesion_id", "patient_id", "image", "label", "roi"])]
    rows += [sep.join([f"l{i}", f"p{i}", "x.png", lab, '"{""circle"": [5, 5, 3]}"']) for i, lab in enumerate(labels)]
    path = tmp_path / name
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


@pytest.mark.parametrize("labels, said", [
    (["1", "Malignant", "M", "0"], "line 4 (lesion l2): 'M'"),
    (["1", "0", "yes"], "line 4 (lesion l2): 'yes'"),
    (["1", "", "0"], "line 3 (lesion l1): empty"),
    (["1", "2", "0"], "line 3 (lesion l1): '2'"),
    (["1", "0", "benign?"], "line 4 (lesion l2): 'benign?'"),
])
def test_a_bad_label_names_file_line_and_column(tmp_path, labels, said):
    path = _manifest(tmp_path, labels)
    with pytest.raises(ValueError) as e: load_dataset(f"manifest:{path}")
    assert f"{path}, column 'label': " in str(e.value) and said in str(e.value)
    assert "write 1 or malignant for a malignant lesion, 0 or benign for a benign one" in str(e.value)


def test_label_words_are_read(tmp_path):
    assert load_dataset(f"manifest:{_manifest(tmp_path, ['Malignant', 'benign', '1.0', '0'])}").label.tolist() \
        == [1, 0, 1, 0]


def test_a_latin1_table_names_file_and_line(tmp_path, vindr):
    path = _manifest(tmp_path, ["1", "0"], encoding="latin-1")
    path.write_bytes(path.read_bytes().replace(b"p1,", "pé,".encode("latin-1")))
    with pytest.raises(ValueError, match=r"manifest.csv line 3: not UTF-8 text \(byte 0xe9\); save the file as UTF-8"):
        load_dataset(f"manifest:{path}")
    table = vindr / "finding_annotations.csv"
    table.write_bytes(table.read_bytes() + "\n".encode("utf-8") + "é".encode("latin-1"))
    with pytest.raises(ValueError, match=r"vindr-mammo: .*finding_annotations.csv line \d+: not UTF-8 text"):
        load_dataset(f"vindr-mammo:{vindr}")


def test_a_semicolon_table_says_so(tmp_path, vindr):
    path = _manifest(tmp_path, ["1", "0"], sep=";")
    with pytest.raises(ValueError, match="manifest.csv lacks column.*separated by semicolons .';'., not by commas"):
        load_dataset(f"manifest:{path}")
    table = vindr / "finding_annotations.csv"
    table.write_text(table.read_text().replace(",", ";"))
    with pytest.raises(ValueError, match="finding_annotations.csv lacks column.*separated by semicolons"):
        load_dataset(f"vindr-mammo:{vindr}")


def test_a_question_mark_in_a_path(tmp_path):
    folder = tmp_path / "what?"
    folder.mkdir()
    path = _manifest(folder, ["1", "0"])
    with pytest.raises(ValueError, match=r"'\?' starts the loader options: a path holding '\?' writes it %3F"):
        load_dataset(f"manifest:{path}")
    assert len(load_dataset(f"manifest:{str(path).replace('?', '%3F')}")) == 2


@pytest.mark.parametrize("spec, said", [
    ("inbreast:{d}?point_radius=-1", "option point_radius must be a radius in pixels above 0"),
    ("inbreast:{d}?benign_birads=1,9", "option benign_birads: [9] not BI-RADS categories"),
    ("vindr-mammo:{d}?malignant_birads=x", "dataset spec 'vindr-mammo:"),
    ("synthetic:0", "synthetic:N: N must be from 1 to 100000 lesions, got 0"),
    ("synthetic?seed=-2", "synthetic: option seed must be at least 0, got -2"),
])
def test_a_bad_loader_option_names_the_option(tmp_path, spec, said):
    with pytest.raises(ValueError) as e: load_dataset(spec.format(d=tmp_path))
    assert said in str(e.value)


def test_mias_info_line_with_a_byte_order_mark_is_parsed():
    "Issue 18, class 8: an Info.txt saved with a BOM (first line) or with one pasted mid-file keeps its lesions."
    from radllm.data import parse_mias_info
    rows, skipped = parse_mias_info("\ufeffmdb001 G CIRC B 535 425 197\nmdb002 G CIRC B 522 280 69\n"
                                    "\ufeffmdb003 D NORM\n\ufeffmdb005 F CIRC M 477 133 30\n")
    assert [r["ref"] for r in rows] == ["mdb001", "mdb002", "mdb005"] and not skipped
