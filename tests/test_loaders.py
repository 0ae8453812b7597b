"""The cbis-ddsm, inbreast and vindr-mammo loaders on tiny datasets written in the real formats (radllm.testing)."""
import csv, warnings

import numpy as np
import pytest

from radllm import testing
from radllm.data import load_dataset, manifest_problems, open_dataset



def skipped(d): return {s["lesion_id"]: s["reason"] for s in d.skipped}

def rewrite_csv(path, edit, sep=","):
    "Apply `edit(list_of_rows_with_header) -> rows` to a CSV file."
    with open(path, newline="") as f: rows = list(csv.reader(f, delimiter=sep))
    with open(path, "w", newline="") as f: csv.writer(f, delimiter=sep).writerows(edit(rows))


# ---------------------------------------------------------------- cbis-ddsm
@pytest.fixture
def cbis(tmp_path): return testing.make_cbis_ddsm(tmp_path / "cbis")

def open_cbis(root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_dataset(f"cbis-ddsm:{root}", **kw)

def load_cbis(root, **kw): return open_cbis(root, **kw).manifest

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
    s = skipped(open_cbis(cbis))
    assert "ROI mask not identified" in s["Mass-Training_P_00001_LEFT_CC_2"] and "2 of them binary" \
        in s["Mass-Training_P_00001_LEFT_CC_2"]

def test_cbis_only_cropped_image_is_skipped(cbis):
    for p in (cbis / "CBIS-DDSM").glob("Mass-Training_P_00001_LEFT_CC_1/*/*ROI mask*/*.dcm"): p.unlink()
    s = skipped(open_cbis(cbis))
    assert "ROI mask not found" in s["Mass-Training_P_00001_LEFT_CC_1"] and "cropped" \
        in s["Mass-Training_P_00001_LEFT_CC_1"]

def test_cbis_duplicate_and_unknown_pathology(cbis):
    def edit(rows):
        rows.append(list(rows[1]))
        rows[2][9] = "MALIGNANT?"
        return rows
    rewrite_csv(cbis / "mass_case_description_train_set.csv", edit)
    d = open_cbis(cbis)
    df, s = d.manifest, skipped(d)
    assert "pathology 'MALIGNANT?'" in s["Mass-Training_P_00001_LEFT_CC_2"]
    assert [r["reason"] for r in d.skipped if "duplicate abnormality" in r["reason"]] == \
        ["mass_case_description_train_set.csv line 6: duplicate abnormality (first at "
         "mass_case_description_train_set.csv line 2)"]
    assert list(df.lesion_id).count("Mass-Training_P_00001_LEFT_CC_1") == 1


# ---------------------------------------------------------------- inbreast
@pytest.fixture
def inbreast(tmp_path): return testing.make_inbreast(tmp_path / "inbreast")

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
    d = open_dataset(f"inbreast:{inbreast}")
    df, s = d.manifest, skipped(d)
    assert "cannot read the ROIs" in s["22614236"] and "22614236.xml" in s["22614236"]
    assert "INbreast.csv has no row for file 99999999" in s["99999999"]
    assert "no DICOM 20586934_*.dcm" in s["20586934_1"] and "20586934_1" not in set(df.lesion_id)

def test_inbreast_bad_point_string(inbreast):
    xml = inbreast / "AllXML" / "20586934.xml"
    xml.write_text(xml.read_text().replace("(40.000000, 30.000000)", "(40.0 30.0 1.0)"))
    assert "is not '(x, y)'" in skipped(open_dataset(f"inbreast:{inbreast}"))["20586934"]


# ---------------------------------------------------------------- vindr-mammo
@pytest.fixture
def vindr(tmp_path): return testing.make_vindr_mammo(tmp_path / "vindr")

I1, I3, I4 = "d213aba1f2ef4a8e5a3e53d1e3a8b8d0", "4e3a0f2b6c5d7e8f9a0b1c2d3e4f5a6b", "7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c"

def set_distortion_birads(vindr, value):
    "Give the fixture's distortion finding (image I3) another finding_birads."
    rewrite_csv(vindr / "finding_annotations.csv",
                lambda rows: [r[:10] + [value if r[9] == "['Architectural Distortion']" else r[10]] + r[11:]
                              for r in rows])

def test_vindr_default_is_the_papers_split(vindr):
    ("BI-RADS 3 benign, 4-5 malignant; a BI-RADS 2 finding (not in the release, which boxes only BI-RADS 3-5) is "
     "skipped with the spec that counts it.")
    set_distortion_birads(vindr, "BI-RADS 2")
    d = open_dataset(f"vindr-mammo:{vindr}")
    assert list(d.manifest.lesion_id) == [f"{I1}_1",
                                          f"{I1}_2"] and d.birads_labels == {"benign": [3], "malignant": [4, 5]}
    reason = skipped(d)[f"{I3}_1"]
    assert reason \
        == ("finding_annotations.csv line 5: BI-RADS 2 is neither benign (3) nor malignant (4-5); to count it as "
            "benign, "
                      "set benign_birads / malignant_birads in the spec: "
                      "vindr-mammo:PATH?benign_birads=2,3&malignant_birads=4,5")
    hinted = load_dataset(reason.split("in the spec: ")[1].replace("PATH", str(vindr)))
    assert hinted.set_index("lesion_id").label[f"{I3}_1"] == 0

def test_vindr_birads_1_is_skipped(vindr):
    set_distortion_birads(vindr, "BI-RADS 1")
    assert "BI-RADS 1 is neither" in skipped(open_dataset(f"vindr-mammo:{vindr}"))[f"{I3}_1"]

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
    assert "x0 <= x1" in skipped(open_dataset(f"vindr-mammo:{vindr}"))[f"{I1}_1"]


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


def test_a_loader_option_that_is_not_a_number_names_the_spec(tmp_path):
    "(Values out of range name the option: chapter 01's loader-options cell.)"
    with pytest.raises(ValueError, match="dataset spec 'vindr-mammo:"):
        load_dataset(f"vindr-mammo:{tmp_path}?malignant_birads=x")


def test_mias_info_line_with_a_byte_order_mark_is_parsed():
    "Issue 18, class 8: an Info.txt saved with a BOM (first line) or with one pasted mid-file keeps its lesions."
    from radllm.data import parse_mias_info
    rows, skipped = parse_mias_info("\ufeffmdb001 G CIRC B 535 425 197\nmdb002 G CIRC B 522 280 69\n"
                                    "\ufeffmdb003 D NORM\n\ufeffmdb005 F CIRC M 477 133 30\n")
    assert [r["ref"] for r in rows] == ["mdb001", "mdb002", "mdb005"] and not skipped
