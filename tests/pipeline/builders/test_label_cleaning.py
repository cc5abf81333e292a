"""Cleaning wrong labels on real FaceNet embeddings: the demo gallery's rows, a `--clean` build, and LFW."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from app.config import DEFAULTS
from app.pipeline.builders.label_cleaning import (
    CHECKED,
    DROPPED,
    FAR,
    NO_CORE,
    TOO_FEW,
    CleaningSettings,
    clean_identities,
    pair_distances,
)
from app.pipeline.builders.version_files import identity_table
from app.pipeline.galleries.reader import Gallery
from conftest import DEMO, ROOT, SHARED

SETTINGS = CleaningSettings.from_config(DEFAULTS)


@pytest.fixture(scope="module")
def demo():
    """(embeddings, identity name -> that identity's rows, most typical first) of the demo gallery."""
    gallery = Gallery.load(os.path.join(ROOT, "instance", "galleries", "demo"))
    embeddings = np.asarray(gallery.embeddings, np.float32)
    rows = {}
    for k, identity in enumerate(gallery.identities):
        own = np.flatnonzero(gallery.labels == k)
        distances = pair_distances(embeddings[own])
        typical = np.median(distances, axis=1)  # the self-distance 0 shifts every row alike
        rows[identity] = own[np.argsort(typical, kind="stable")]
    return embeddings, rows, gallery


def identities_of(demo, groups: list[list[tuple[str, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, labels) of made-up identities: group g holds the n most typical rows of each person named."""
    embeddings, rows, _ = demo
    picked, labels, taken = [], [], {}
    for g, group in enumerate(groups):
        for person, n in group:
            start = taken.get(person, 0)
            picked += rows[person][start:start + n].tolist()
            labels += [g] * n
            taken[person] = start + n
    return embeddings[picked], np.array(labels)


def test_moved_photos_are_dropped_and_the_rest_kept(demo):
    embeddings, rows, gallery = demo
    labels = np.array(gallery.labels)
    k = {identity: i for i, identity in enumerate(gallery.identities)}
    moves = {rows["mindy_kaling"][0]: "jerry_seinfeld", rows["ben_afflek"][0]: "jerry_seinfeld",
             rows["jerry_seinfeld"][0]: "mindy_kaling", rows["elton_john"][0]: "ben_afflek",
             rows["madonna"][0]: "mindy_kaling"}
    for row, to in moves.items():
        labels[row] = k[to]
    keep, reasons, report = clean_identities(embeddings, labels, SETTINGS)
    moved = np.zeros(len(labels), bool)
    moved[list(moves)] = True
    assert not keep[moved].any() and set(reasons[moved]) == {FAR}
    untouched = np.isin(gallery.labels, [k["jerry_seinfeld"], k["mindy_kaling"], k["ben_afflek"]]) & ~moved
    assert keep[untouched].all()  # the tight identities lose no true photo
    assert (~keep[~moved]).sum() <= 6  # web photos of Elton John and Madonna in sunglasses or profile may go
    assert all(entry["status"] == CHECKED for entry in report.values())
    assert report[k["jerry_seinfeld"]] == {"photos": 22, "kept": 20, "status": CHECKED}
    assert set(reasons[keep]) == {""}


def test_identities_of_one_or_two_photos_are_kept_unchecked(demo):
    embeddings, labels = identities_of(demo, [[("jerry_seinfeld", 1), ("madonna", 1)], [("mindy_kaling", 1)]])
    keep, reasons, report = clean_identities(embeddings, labels, SETTINGS)
    assert keep.all() and set(reasons) == {""}  # two different people under one name: nothing to compare
    assert report == {0: {"photos": 2, "kept": 2, "status": TOO_FEW}, 1: {"photos": 1, "kept": 1, "status": TOO_FEW}}


def test_an_identity_without_a_consistent_core_is_dropped(demo):
    embeddings, labels = identities_of(demo, [
        [("jerry_seinfeld", 2), ("ben_afflek", 2)],  # two people, two photos each: which one is the name's?
        [("mindy_kaling", 1), ("elton_john", 1), ("madonna", 1)],  # three photos, three people
        [("mindy_kaling", 3), ("ben_afflek", 1)]])  # three agree, one intruder
    keep, reasons, report = clean_identities(embeddings, labels, SETTINGS)
    assert report[0]["status"] == report[1]["status"] == DROPPED
    assert not keep[labels < 2].any() and set(reasons[labels < 2]) == {NO_CORE}
    assert keep[labels == 2].tolist() == [True, True, True, False] and reasons[-1] == FAR
    assert report[2] == {"photos": 4, "kept": 3, "status": CHECKED}


def test_the_true_person_wins_against_many_intruders(demo):
    """6 photos of the named person, 4 of one co-star (who agree with each other) and 3 strangers."""
    embeddings, labels = identities_of(demo, [[("jerry_seinfeld", 6), ("mindy_kaling", 4), ("ben_afflek", 1),
                                               ("elton_john", 1), ("madonna", 1)]])
    keep, reasons, report = clean_identities(embeddings, labels, SETTINGS)
    assert keep.tolist() == [True] * 6 + [False] * 7 and set(reasons[6:]) == {FAR}
    assert report[0] == {"photos": 13, "kept": 6, "status": CHECKED}
    # the co-star as large as the named person: no way to tell which is which
    embeddings, labels = identities_of(demo, [[("jerry_seinfeld", 4), ("mindy_kaling", 4), ("ben_afflek", 1)]])
    keep, reasons, report = clean_identities(embeddings, labels, SETTINGS)
    assert not keep.any() and report[0]["status"] == DROPPED


def test_identities_left_without_rows_leave_the_table():
    table = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    rows = {"photo_side": np.full(3, 250), "box": np.array([[0, 0, 90, 90]] * 3), "confidence": np.ones(3)}
    kept, labels = identity_table(table, np.array([0, 2, 2], np.int32), rows)
    assert labels.tolist() == [0, 1, 1] and [e["id"] for e in kept] == ["a", "c"]
    assert [e["portrait"] for e in kept] == [0, 1]


def test_flask_gallery_build_clean_drops_and_reports_a_mislabelled_photo(demo, make_app, tmp_path):
    _, rows, gallery = demo
    sources = gallery.row_metadata()["source"]

    def photo(row: int) -> str:
        identity = gallery.identities[gallery.labels[row]]
        return os.path.join(DEMO, "train", identity, os.path.basename(str(sources[row])))

    src = tmp_path / "photos"
    for folder, picks in {"jerry_seinfeld": rows["jerry_seinfeld"][:4], "mindy_kaling": rows["mindy_kaling"][:3],
                          "ben_afflek": rows["ben_afflek"][:2],
                          "two_people": [*rows["madonna"][:2], *rows["elton_john"][:2]]}.items():
        (src / folder).mkdir(parents=True)
        for row in picks:
            shutil.copy(photo(row), src / folder)
    wrong = src / "jerry_seinfeld" / "not_jerry.jpg"
    shutil.copy(photo(rows["mindy_kaling"][5]), wrong)
    runner = make_app(GALLERIES_DIR=str(tmp_path / "g"), EAGER_LOAD=False).test_cli_runner()

    result = runner.invoke(args=["gallery", "build", str(src), "--name", "clean", "--clean", "--per-identity", "3",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"dropped ({FAR}): {wrong}" in result.output
    assert f"dropped ({NO_CORE}): {src / 'two_people'}" in result.output
    assert ("cleaning dropped 5 photos (1 far_from_identity, 4 no_consistent_core) and 1 identities; "
            "1 identities with 1-2 photos kept unchecked") in result.output
    built = Gallery.load(str(tmp_path / "g" / "clean"))
    assert built.identities == ["ben_afflek", "jerry_seinfeld", "mindy_kaling"]
    assert np.bincount(built.labels).tolist() == [2, 3, 3]  # cleaned first, then the 3 best of the 4 left
    assert str(wrong) not in set(built.row_metadata()["source"].tolist())
    cleaning = built.manifest["cleaning"]
    assert cleaning["pair_threshold"] == DEFAULTS["VERIFY_CALIBRATION"]["threshold"]
    assert cleaning["photos_dropped"] == {FAR: 1, NO_CORE: 4} and cleaning["dropped_identities"] == ["two_people"]
    assert {"file": str(wrong), "reason": FAR} in cleaning["dropped_files"] and len(cleaning["dropped_files"]) == 5
    assert cleaning["identities_checked"] == 2 and cleaning["identities_too_few_to_check"] == 1
    json.dumps(cleaning)  # the manifest holds plain JSON types

    result = runner.invoke(args=["gallery", "build", str(src), "--name", "raw", "--workers", "1"])  # off by default
    assert result.exit_code == 0 and "dropped (" not in result.output and "cleaning" not in result.output
    raw = Gallery.load(str(tmp_path / "g" / "raw"))
    assert len(raw) == 14 and "cleaning" not in raw.manifest

    shutil.copytree(src / "two_people", tmp_path / "only_two" / "two_people")
    result = runner.invoke(args=["gallery", "build", str(tmp_path / "only_two"), "--name", "none", "--clean",
                                 "--workers", "1"])
    assert result.exit_code == 1 and "no usable face left after cleaning in any of the 4 photos" in result.output
    assert not os.path.exists(tmp_path / "g" / "none")


@pytest.mark.slow
def test_lfw_with_corrupted_labels_meets_the_recall_and_clean_drop_bounds():
    """10% of the photos of LFW identities with 4+ photos moved to others (3 seeds): the documented bounds.

    Builds gallery lfw-shared of ../shared/data/lfw/images once (minutes on 2 cores), reused later."""
    from bench.label_noise import LFW, default_galleries, lfw_gallery, measure

    if not os.path.isdir(LFW):
        pytest.skip(f"needs ../shared/data/lfw: {SHARED}/lfw is absent (only in dev checkouts and CI)")
    gallery = lfw_gallery(default_galleries())
    embeddings, labels = np.asarray(gallery.embeddings, np.float32), np.asarray(gallery.labels)
    for seed in (0, 1, 2):
        run = measure(embeddings, labels, SETTINGS, fraction=0.1, min_photos=4, seed=seed)
        assert run["moved"] > 400, run
        assert run["recall"] >= 0.95 and run["clean_drop"] <= 0.03, run
        assert run["precision"] >= 0.9, run  # measured 0.96
