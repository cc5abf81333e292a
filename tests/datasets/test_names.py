"""read_names() for VGGFace2's identity_meta.csv and plain folder,name[,gender] CSVs."""

from __future__ import annotations

import pytest

from app.datasets.names import DEMO_NAMES, display_name, name_of, read_names

VGGFACE2 = '''Class_ID, Name, Sample_Num, Flag, Gender
n000001, "14th_Dalai_Lama", 424, 0, m
n000002, "A._J._Buckley", 315, 1, m
n000003, "A._R._Rahman", 205, 1, m
n000009, "Aaliyah", 268, 1, f
n000029, "Jean-Claude_van_Damme", 301, 1, m
'''


def write(tmp_path, text: str, encoding: str = "utf-8") -> str:
    """Write a CSV; its path."""
    path = tmp_path / "names.csv"
    path.write_text(text, encoding=encoding)
    return str(path)


def test_vggface2_identity_meta(tmp_path):
    names = read_names(write(tmp_path, VGGFACE2))
    assert list(names) == ["n000001", "n000002", "n000003", "n000009", "n000029"]
    assert names["n000002"] == {"name": "A. J. Buckley", "gender": "male",
                                "sample_num": "315", "flag": "1"}
    assert names["n000001"]["name"] == "14th Dalai Lama"
    assert names["n000009"]["gender"] == "female"
    assert names["n000029"]["name"] == "Jean-Claude van Damme"  # CSV names are not recapitalised


def test_plain_csv_with_header_bom_comments_and_blank_lines(tmp_path):
    text = "folder,name,gender\n# the demo\n\nben_afflek, Ben Affleck ,M\nmadonna,Madonna,\n"
    names = read_names(write(tmp_path, text, encoding="utf-8-sig"))
    assert names == {"ben_afflek": {"name": "Ben Affleck", "gender": "male"},
                     "madonna": {"name": "Madonna"}}


def test_plain_csv_without_header_gender_optional(tmp_path):
    text = 'Aaron_Guiel,Aaron Guiel\nbeyonce,"Beyoncé Knowles",female\nzico,,\n'
    names = read_names(write(tmp_path, text))
    assert names == {"Aaron_Guiel": {"name": "Aaron Guiel"},
                     "beyonce": {"name": "Beyoncé Knowles", "gender": "female"},
                     "zico": {"name": "Zico"}}


def test_latin1_file_is_read(tmp_path):
    names = read_names(write(tmp_path, "pele,Pelé\n", encoding="latin-1"))
    assert names["pele"]["name"] == "Pelé"


def test_empty_file(tmp_path):
    assert read_names(write(tmp_path, "\n")) == {}


@pytest.mark.parametrize("text, message", [
    ("a,A\na,Again\n", "line 2 lists folder 'a' a second time"),
    ("folder,name\n\nlonely\n", "line 3 needs a folder and a name"),
])
def test_bad_rows_are_reported_with_their_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_names(write(tmp_path, text))


def test_demo_names_csv():
    names = read_names(DEMO_NAMES)
    assert names == {
        "ben_afflek": {"name": "Ben Affleck", "gender": "male", "birth_year": 1972},
        "elton_john": {"name": "Elton John", "gender": "male", "birth_year": 1947},
        "jerry_seinfeld": {"name": "Jerry Seinfeld", "gender": "male", "birth_year": 1954},
        "madonna": {"name": "Madonna", "gender": "female", "birth_year": 1958},
        "mindy_kaling": {"name": "Mindy Kaling", "gender": "female", "birth_year": 1979},
    }


def test_a_birth_year_that_is_no_year_names_its_line(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("folder,name,birth_year\na,A,1970\nb,B,late sixties\n")
    with pytest.raises(ValueError, match="line 3: birth_year 'late sixties' is not a year"):
        read_names(str(path))


@pytest.mark.parametrize("folder, name", [
    ("Aaron_Guiel", "Aaron Guiel"), ("ben_afflek", "Ben Afflek"), ("AJ_Cook", "AJ Cook"),
    ("madonna", "Madonna"), ("Jean-Claude_Van_Damme", "Jean-Claude Van Damme"),
    ("n000002", "N000002"), ("  two__spaces_", "Two Spaces"),
])
def test_display_name(folder, name):
    assert display_name(folder) == name


def test_name_of_prefers_the_csv():
    names = read_names(DEMO_NAMES)
    assert name_of(names, "ben_afflek") == "Ben Affleck"
    assert name_of(names, "Aaron_Guiel") == "Aaron Guiel"
