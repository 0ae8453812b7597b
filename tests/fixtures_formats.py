"""Fixture builders: tiny CBIS-DDSM, INbreast and VinDr-Mammo datasets in their real formats (DICOM via pydicom,
plist XML via plistlib, CSV tables). The same builders as the hidden fixture cells of nbs/01_data.ipynb; keep the
two in step when changing either."""
import csv as _csv, plistlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def write_dicom(path, arr, photometric="MONOCHROME2", bits=12, spacing=(0.1, 0.1), imager=False, syntax=None, **tags):
    "Write a small single-frame grayscale DICOM (test fixture): 8-bit storage when `bits` <= 8, no spacing tag when `spacing` is None, extra `tags` (e.g. SeriesDescription) set as given."
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "anon"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    alloc = 8 if bits <= 8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = alloc, bits, bits - 1, 0
    if spacing is not None: setattr(ds, "ImagerPixelSpacing" if imager else "PixelSpacing", [str(s) for s in spacing])
    for k, v in tags.items(): setattr(ds, k, v)
    data = arr.astype(np.uint8 if alloc == 8 else np.uint16)
    ds.PixelData = data.tobytes() + (b"\0" if data.nbytes % 2 else b"")
    if syntax is not None: ds.compress(syntax, data)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _write_csv(path, header, rows, sep=","):
    "Write a CSV table (test fixture)."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = _csv.writer(f, delimiter=sep); w.writerow(header); w.writerows(rows)
    return path


def make_cbis_ddsm(root):
    "A tiny CBIS-DDSM in its real formats: two of the four description CSVs, DICOMs in the TCIA and in the CSV layout (test fixture)."
    root, rng = Path(root), np.random.default_rng(0)
    def img(shape=(48, 40)): return rng.integers(0, 65535, shape).astype(np.uint16)
    def box(x0, y0, x1, y1, shape=(48, 40)): m = np.zeros(shape, np.uint8); m[y0:y1, x0:x1] = 255; return m
    uid = lambda n: f"1.3.6.1.4.1.9590.100.1.2.{n}"
    D = root / "CBIS-DDSM"
    # P_00001: TCIA layout; abnormality 1 told apart by SeriesDescription, abnormality 2 (both files in one series, no description) by pixels
    c = "Mass-Training_P_00001_LEFT_CC"
    write_dicom(D / c / "07-20-2016-DDSM-74994/1.000000-full mammogram images-24515/1-1.dcm", img(), bits=16, spacing=None, SeriesDescription="full mammogram images")
    write_dicom(D / f"{c}_1/07-21-2016-DDSM-94258/1.000000-ROI mask images-98489/1-1.dcm", box(5, 6, 15, 14), bits=8, spacing=None, SeriesDescription="ROI mask images")
    write_dicom(D / f"{c}_1/07-21-2016-DDSM-94258/1.000000-cropped images-12457/1-1.dcm", img((8, 10)), bits=16, spacing=None, SeriesDescription="cropped images")
    write_dicom(D / f"{c}_2/07-21-2016-DDSM-11111/1.000000-ROI mask images-22222/1-1.dcm", img((10, 10)), bits=16, spacing=None)
    write_dicom(D / f"{c}_2/07-21-2016-DDSM-11111/1.000000-ROI mask images-22222/1-2.dcm", box(20, 20, 30, 30), bits=8, spacing=None)
    # P_00004: the CSV's own layout, exact paths; its mask has another size than its image
    c4 = "Mass-Training_P_00004_RIGHT_MLO"
    write_dicom(root / c4 / uid(1) / uid(2) / "000000.dcm", img(), bits=16, spacing=None, SeriesDescription="full mammogram images")
    write_dicom(root / f"{c4}_1" / uid(3) / uid(4) / "000000.dcm", img((6, 6)), bits=16, spacing=None, SeriesDescription="cropped images")
    write_dicom(root / f"{c4}_1" / uid(3) / uid(4) / "000001.dcm", box(2, 2, 8, 8, (24, 20)), bits=8, spacing=None, SeriesDescription="ROI mask images")
    # P_00038 (calcification test set): TCIA layout
    c38 = "Calc-Test_P_00038_LEFT_CC"
    write_dicom(D / c38 / "08-29-2017-DDSM-96009/1.000000-full mammogram images-63992/1-1.dcm", img(), bits=16, spacing=None, SeriesDescription="full mammogram images")
    write_dicom(D / f"{c38}_1/08-29-2017-DDSM-53120/1.000000-ROI mask images-12345/1-1.dcm", box(10, 30, 16, 40), bits=8, spacing=None, SeriesDescription="ROI mask images")
    def paths(case, n): return [f"{case}/{uid(10)}/{uid(11)}/000000.dcm", f"{case}_{n}/{uid(12)}/{uid(13)}/000000.dcm", f"{case}_{n}/{uid(12)}/{uid(13)}/000001.dcm\n"]
    _write_csv(root / "mass_case_description_train_set.csv",
        ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id", "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety", "image file path", "cropped image file path", "ROI mask file path"],
        [["P_00001", "3", "LEFT", "CC", "1", "mass", "IRREGULAR-ARCHITECTURAL_DISTORTION", "SPICULATED", "4", "MALIGNANT", "4", *paths(c, 1)],
         ["P_00001", "3", "LEFT", "CC", "2", "mass", "OVAL", "CIRCUMSCRIBED", "3", "BENIGN_WITHOUT_CALLBACK", "5", *paths(c, 2)],
         ["P_00004", "3", "RIGHT", "MLO", "1", "mass", "ROUND", "OBSCURED", "3", "BENIGN", "3", f"{c4}/{uid(1)}/{uid(2)}/000000.dcm", f"{c4}_1/{uid(3)}/{uid(4)}/000000.dcm", f"{c4}_1/{uid(3)}/{uid(4)}/000001.dcm\n"],
         ["P_00005", "2", "RIGHT", "CC", "1", "mass", "ROUND", "OBSCURED", "3", "MALIGNANT", "3", *paths("Mass-Training_P_00005_RIGHT_CC", 1)]])
    _write_csv(root / "calc_case_description_test_set.csv",
        ["patient_id", "breast density", "left or right breast", "image view", "abnormality id", "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety", "image file path", "cropped image file path", "ROI mask file path"],
        [["P_00038", "2", "LEFT", "CC", "1", "calcification", "PLEOMORPHIC", "CLUSTERED", "4", "MALIGNANT", "2", *paths(c38, 1)],
         ["P_00038", "2", "LEFT", "CC", "2", "calcification", "PUNCTATE", "CLUSTERED", "2", "", "2", *paths(c38, 2)]])
    return root


def inbreast_roi(name, points):
    "One ROI dict as INbreast's XML stores it (test fixture)."
    pts = [f"({x:.6f}, {y:.6f})" for x, y in points]
    cx, cy = np.mean(points, axis=0) if points else (0.0, 0.0)
    return {"Area": 0.0, "Center": f"{{{cx:.2f}, {cy:.2f}}}", "Dev": 0.0, "IndexInImage": 0, "Max": 0.0, "Mean": 0.0, "Min": 0.0,
            "Name": name, "NumberOfPoints": len(points), "Point_mm": [f"({x * 0.07:.6f}, {y * 0.07:.6f})" for x, y in points],
            "Point_px": pts, "Total": 0.0, "Type": 15 if len(points) > 2 else 19}


def make_inbreast(root):
    "A tiny INbreast in its real formats: AllDICOMs/ (14-bit, 0.07 mm), AllXML/ plists, a semicolon INbreast.csv (test fixture)."
    root, rng = Path(root), np.random.default_rng(1)
    images = {"20586908": ("6c613a14b80a8591", "R", "CC", "4c"), "20586934": ("6c613a14b80a8591", "L", "CC", "2"),
              "22614236": ("b6a4f09d4ea5d7bd", "R", "MLO", "1"), "22614266": ("b6a4f09d4ea5d7bd", "L", "MLO", "?")}
    for fid, (pid, lat, view, _) in images.items():
        write_dicom(root / "AllDICOMs" / f"{fid}_{pid}_MG_{lat}_{view}_ANON.dcm", rng.integers(0, 16383, (64, 48)), bits=14, spacing=(0.07, 0.07))
    rois = {"20586908": [inbreast_roi("Mass", [(10, 10), (30, 8), (38, 20), (30, 34), (14, 32), (8, 20)]),
                         inbreast_roi("Calcification", [(40.5, 50.25)]),
                         inbreast_roi("Cluster", [(5, 40), (20, 40), (20, 55), (5, 55)])],
            "20586934": [inbreast_roi("Assymetry", [(10, 10), (40, 10), (40, 30)]), inbreast_roi("Unnamed", [(1, 1), (5, 1), (5, 5)])],
            "22614266": [inbreast_roi("Mass", [(10, 10), (20, 10), (20, 20)])]}
    for fid, r in rois.items():
        (root / "AllXML").mkdir(parents=True, exist_ok=True)
        (root / "AllXML" / f"{fid}.xml").write_bytes(plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": len(r), "ROIs": r}]}, fmt=plistlib.FMT_XML))
    _write_csv(root / "INbreast.csv", ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date", "File Name", "ACR", "Bi-Rads"],
               [["removed", "removed", lat, view, "201001", fid, "2", birads] for fid, (_, lat, view, birads) in images.items()], sep=";")
    return root


def make_vindr_mammo(root):
    "A tiny VinDr-Mammo in its real formats: images/<study>/<image>.dicom and finding_annotations.csv (test fixture)."
    root, rng = Path(root), np.random.default_rng(2)
    S1, S2 = "0025a5dc99fd5c742026f0b2b030d3e9", "9d6e2b8a1f0c4e7d8a3b5c6d7e8f9a0b"
    images = {"d213aba1f2ef4a8e5a3e53d1e3a8b8d0": (S1, "L", "CC", "MONOCHROME2"), "5cc9b5d1e8b2b7c2c5c6a0d4e3f2a1b0": (S1, "L", "MLO", "MONOCHROME2"),
              "4e3a0f2b6c5d7e8f9a0b1c2d3e4f5a6b": (S2, "R", "CC", "MONOCHROME1"), "7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c": (S2, "R", "MLO", "MONOCHROME2")}
    for iid, (sid, _, _, phot) in images.items():
        write_dicom(root / "images" / sid / f"{iid}.dicom", rng.integers(0, 4095, (60, 50)), photometric=phot, bits=12, spacing=(0.085, 0.085))
    I1, I2, I3, I4 = images
    def row(iid, cats, fb, box, split="training"):
        sid, lat, view, _ = images[iid]
        return [sid, f"s{iid[:6]}", iid, lat, view, 60, 50, "BI-RADS 4", "DENSITY C", cats, fb, *(box or [""] * 4), split]
    _write_csv(root / "finding_annotations.csv",
        ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width", "breast_birads", "breast_density", "finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax", "split"],
        [row(I1, "['Mass']", "BI-RADS 4", [10.5, 12.0, 30.2, 28.9]),
         row(I1, "['Suspicious Calcification', 'Mass']", "BI-RADS 3", [5, 5, 12, 9]),
         row(I2, "['No Finding']", "", None),
         row(I3, "['Architectural Distortion']", "BI-RADS 3", [20, 30, 40, 50], "test"),
         row(I3, "['Focal Asymmetry']", "", [1, 1, 5, 5], "test"),
         row(I4, "['Mass']", "BI-RADS 5", None, "test"),
         row(I4, "['Skin Thickening']", "BI-RADS 3", [0, 0, 10, 10], "test"),
         row(I4, "['Mass'", "BI-RADS 4", [0, 0, 10, 10], "test")])
    _write_csv(root / "metadata.csv", ["Series Instance UID", "SOP Instance UID", "Patient's Age"], [["s", I1, "053Y"]])
    return root
