"""IMDB-WIKI metadata: reading the .mat, selecting photos, checking crops and folders, grouping."""

from __future__ import annotations

import io
import math
import os
from collections import Counter
from datetime import date

import numpy as np
import pytest
import scipy.io
from PIL import Image

from app.datasets.imdb_wiki import (
    IMDB,
    WIKI,
    StructureError,
    check_crop,
    check_structure,
    read_metadata,
    select,
)
from app.datasets.imdb_wiki_identities import (
    DEFAULT_IDENTITIES,
    DEFAULT_PHOTOS_PER_IDENTITY,
    cap_photos,
    default_choice,
    group_identities,
    top_identities,
    write_names_csv,
)
from app.datasets.imdb_wiki_meta import MetadataError, matlab_date
from app.datasets.names import read_names

from .imdb_wiki_fixture import ELTON_IMDB, ELTON_WIKI, MADONNA, demo, imdb_rows, wiki_rows, write_crop_folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{'wiki': crop folder, 'imdb': crop folder} written once for the module."""
    root = str(tmp_path_factory.mktemp("imdb-wiki"))
    return {"wiki": write_crop_folder(root, "wiki", wiki_rows()),
            "imdb": write_crop_folder(root, "imdb", imdb_rows())}


def records_of(folders, source):
    """The records of a fixture folder's .mat."""
    return read_metadata(os.path.join(folders[source], f"{source}.mat"), source)


def test_matlab_serial_dates():
    assert matlab_date(719529.0) == date(1970, 1, 1)  # datenum(1970, 1, 1)
    assert matlab_date(723671.75) == date(1981, 5, 5)  # a time of day is ignored
    assert matlab_date(math.nan) is None and matlab_date(-math.inf) is None and matlab_date(12.0) is None


def test_read_metadata_normalises_every_field(folders):
    records = records_of(folders, "wiki")
    rows = wiki_rows()
    assert [r.path for r in records] == [r.path for r in rows]
    first = records[0]
    assert (first.source, first.name, first.celeb_id, first.dob, first.year_taken, first.gender) == (
        "wiki", "Ben Affleck", None, date(1972, 8, 15), 2010, "male")
    assert first.face_score == pytest.approx(4.1) and math.isnan(first.second_face_score)
    assert first.face_location == (10.5, 12.0, 90.25, 101.0)
    by_path = {r.path: r for r in records}
    assert by_path["21/3_1958-08-16_2005.jpg"].gender is None  # NaN: unknown
    assert by_path["21/4_1958-08-16_2007.jpg"].gender == "female"
    assert by_path["33/6_1960-01-01_2009.jpg"].name == ""  # the empty cell
    assert by_path["58/12_1979-06-24_2010.jpg"].face_score == -math.inf
    assert by_path["69/16_1981-06-13_2011.jpg"].name == "Chris Evans"  # spacing collapsed
    assert by_path["69/18_nan_2011.jpg"].dob is None


def test_imdb_names_come_from_celeb_names(folders):
    records = records_of(folders, "imdb")
    assert [(r.celeb_id, r.name) for r in records][:5] == [(1, "Ben Affleck")] * 4 + [(2, "Jerry Seinfeld")]
    assert records[4].path.startswith("02/")  # the photo's own name is empty, celeb_names has it
    assert (records[-1].celeb_id, records[-1].name) == (6, "")


def test_column_cells_read_the_same(tmp_path, folders):
    column = write_crop_folder(str(tmp_path), "imdb", imdb_rows(), shape="column")
    same = read_metadata(os.path.join(column, "imdb.mat"), "imdb")
    assert list(map(repr, same)) == list(map(repr, records_of(folders, "imdb")))  # repr: NaN != NaN


def test_unreadable_or_wrong_mat_is_a_clear_error(tmp_path, folders):
    bad = tmp_path / "wiki.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(MetadataError, match="cannot read"):
        read_metadata(str(bad), "wiki")
    with pytest.raises(MetadataError, match="no struct named 'imdb'"):
        read_metadata(os.path.join(folders["wiki"], "wiki.mat"), "imdb")
    scipy.io.savemat(str(bad), {"wiki": np.zeros((1, 3))})
    with pytest.raises(MetadataError, match="'wiki' is not a MATLAB struct"):
        read_metadata(str(bad), "wiki")
    scipy.io.savemat(str(bad), {"wiki": {"dob": np.zeros((1, 3)), "full_path": np.zeros((1, 3))}})
    with pytest.raises(MetadataError, match="lacks photo_taken, gender, name"):
        read_metadata(str(bad), "wiki")


def test_select_keeps_one_real_face_and_counts_every_drop(folders):
    rows = wiki_rows()
    kept, report = select(records_of(folders, "wiki"), folders["wiki"])
    assert report.dropped == Counter({"missing_file": 1, "empty_name": 1, "low_face_score": 1,
                                      "second_face": 1, "no_face": 1})
    assert report.dropped == Counter(r.drop for r in rows if r.drop and r.drop != "homonym_without_dob")
    assert (report.read, report.kept, len(kept)) == (18, 13, 13)
    assert report.blanked == Counter({"dob_after_photo_taken": 1})
    blanked = next(r for r in kept if r.path == "33/8_2015-01-01_2009.jpg")
    assert blanked.dob is None and blanked.year_taken == 2009
    assert "47/10_1947-03-25_2003.jpg" in {r.path for r in kept}  # a weak second detection (0.3)


def test_select_thresholds_are_parameters(folders):
    records = records_of(folders, "wiki")
    kept, report = select(records, folders["wiki"], min_face_score=0.0, max_second_face_score=0.2)
    assert report.dropped["low_face_score"] == 0
    assert report.dropped["second_face"] == 2  # 2.7 and now 0.3
    assert len(kept) == 18 - 5
    without_files, plain = select(records)  # no folder: no file checks
    assert len(without_files) == 18 - 4 and plain.dropped["missing_file"] == 0


def test_select_never_follows_a_path_out_of_the_folder(folders, tmp_path):
    records = records_of(folders, "wiki")
    outside = [records[0].__class__(**{**records[0].__dict__, "path": p})
               for p in ("../escape.jpg", "/etc/passwd", "10/../../x.jpg")]
    kept, report = select(outside + records[:2], folders["wiki"])
    assert report.dropped == Counter({"path_outside_crop_folder": 3}) and len(kept) == 2


def test_check_crop_reasons(folders):
    verdicts = {r.path: check_crop(os.path.join(folders["wiki"], r.path)) for r in wiki_rows() if r.data}
    assert verdicts == {r.path: r.crop for r in wiki_rows() if r.data}
    assert check_crop(os.path.join(folders["wiki"], "58/14_1979-06-24_2013.jpg"), min_side=32) is None


def test_grey_photo_saved_in_colour_is_greyscale(tmp_path):
    grey = Image.open(io.BytesIO(demo("madonna", 3))).convert("L").convert("RGB")
    grey.save(tmp_path / "grey.jpg", quality=85)
    Image.open(io.BytesIO(demo("madonna", 3))).save(tmp_path / "colour.jpg", quality=85)
    assert Image.open(tmp_path / "grey.jpg").mode == "RGB"
    assert check_crop(str(tmp_path / "grey.jpg")) == "greyscale"
    assert check_crop(str(tmp_path / "colour.jpg")) is None


def test_check_structure(folders, tmp_path):
    kept, _ = select(records_of(folders, "wiki"), folders["wiki"])
    assert check_structure(folders["wiki"], WIKI, kept) == os.path.join(folders["wiki"], "wiki.mat")
    with pytest.raises(StructureError, match="imdb.mat is missing"):
        check_structure(folders["wiki"], IMDB)
    unselected = records_of(folders, "wiki")
    with pytest.raises(StructureError, match=r"1 listed photos missing .*21/5_1958-08-16_2008.jpg"):
        check_structure(folders["wiki"], WIKI, unselected)
    os.symlink(str(tmp_path), os.path.join(folders["wiki"], "99"))
    try:
        escaping = [unselected[0].__class__(**{**unselected[0].__dict__, "path": "99/x.jpg"})]
        with pytest.raises(StructureError, match="1 paths outside the crop folder"):
            check_structure(folders["wiki"], WIKI, escaping)
    finally:
        os.remove(os.path.join(folders["wiki"], "99"))


def identities_of(folders, *sources):
    """Selected records of the sources grouped, and the report."""
    kept, report = [], None
    for source in sources:
        part, report = select(records_of(folders, source), folders[source], report=report)
        kept += part
    return group_identities(kept, report), report


def test_wiki_grouping_by_name_split_by_dob(folders):
    identities, report = identities_of(folders, "wiki")
    by_key = {i.key: i for i in identities}
    assert set(by_key) == {"wiki-Ben_Affleck-1972-08-15", "wiki-Madonna-1958-08-16", "wiki-Jerry_Seinfeld",
                           "wiki-Elton_John-1947-03-25", "wiki-Mindy_Kaling-1979-06-24",
                           "wiki-Chris_Evans-1981-06-13", "wiki-Chris_Evans-1966-04-01"}
    madonna = by_key["wiki-Madonna-1958-08-16"]
    assert (madonna.name, madonna.birth_year, madonna.gender, len(madonna.photos)) == ("Madonna", 1958, "female", 2)
    assert by_key["wiki-Elton_John-1947-03-25"].gender is None  # photos say male and female
    assert by_key["wiki-Jerry_Seinfeld"].birth_year is None  # its one dob was after the photo
    assert report.identities == Counter({"gender_conflict": 1, "name_split_by_dob": 1})
    assert report.dropped["homonym_without_dob"] == 1 and report.kept == 12
    assert report.kept == sum(len(i.photos) for i in identities)
    assert report.read == report.kept + sum(report.dropped.values())


def test_imdb_grouping_by_celeb_id(folders):
    identities, report = identities_of(folders, "imdb")
    assert [(i.key, i.name, len(i.photos), i.gender, i.birth_year) for i in identities] == [
        ("imdb-1", "Ben Affleck", 3, "male", 1972), ("imdb-4", "Elton John", 1, "male", 1947),
        ("imdb-2", "Jerry Seinfeld", 1, "male", 1954), ("imdb-3", "Madonna", 1, "female", 1958)]
    assert report.dropped == Counter({"no_face": 1, "second_face": 1, "empty_name": 1})


def test_both_merges_same_name_and_dob_only(folders):
    identities, report = identities_of(folders, "imdb", "wiki")
    by_key = {i.key: i for i in identities}
    ben, madonna = by_key["imdb-1"], by_key["imdb-3"]
    assert ben.sources == ("imdb", "wiki") and len(ben.photos) == 5
    assert madonna.sources == ("imdb", "wiki") and madonna.dob == MADONNA and len(madonna.photos) == 3
    assert "wiki-Ben_Affleck-1972-08-15" not in by_key and "wiki-Madonna-1958-08-16" not in by_key
    assert by_key["imdb-4"].dob == ELTON_IMDB and by_key["wiki-Elton_John-1947-03-25"].dob == ELTON_WIKI
    assert "wiki-Jerry_Seinfeld" in by_key  # no known dob: not merged with imdb-2
    assert report.identities["merged_imdb_and_wiki"] == 2
    assert len(identities) == 4 + 7 - 2 and identities[0] is ben  # most photos first


def test_cap_and_top_choice(folders, tmp_path):
    identities, report = identities_of(folders, "imdb", "wiki")
    capped = cap_photos(identities, 2, report)
    ben = capped[0]
    assert [p.face_score for p in ben.photos] == [4.6, 4.1]  # best scores first
    assert report.dropped["over_photo_cap"] == 3 + 1 + 1  # Ben 5 -> 2, Madonna and Mindy 3 -> 2
    top = top_identities(capped, 2, "imdb", report)
    assert [i.key for i in top] == ["imdb-1", "imdb-3"]
    assert report.kept == 4 and report.read == report.kept + sum(report.dropped.values())
    names = read_names(write_names_csv(top, str(tmp_path / "names.csv")))
    assert names == {"imdb-1": {"name": "Ben Affleck", "gender": "male", "birth_year": 1972},
                     "imdb-3": {"name": "Madonna", "gender": "female", "birth_year": 1958}}
    with pytest.raises(ValueError):
        cap_photos(identities, 0)


def test_default_choice_is_imdb_celebrities_capped(folders):
    identities, report = identities_of(folders, "imdb", "wiki")
    chosen = default_choice(identities, report)
    assert all("imdb" in i.sources for i in chosen) and len(chosen) == 4
    assert DEFAULT_IDENTITIES * DEFAULT_PHOTOS_PER_IDENTITY <= 60_000  # an hour on 2 cores at 30-49 photos/s
    # the Wikipedia-only people: Jerry (dob unknown), Elton (other dob), Mindy, two Chris Evans
    assert report.dropped["outside_chosen_identities"] == 1 + 2 + 3 + 1 + 1
