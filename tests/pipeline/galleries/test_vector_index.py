"""The vector index against exact scoring on a 20,000-row synthetic gallery of real-face clusters."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app.evaluation.synthetic import synthetic_rows, unit, write_synthetic
from app.pipeline.errors import StartupError
from app.pipeline.galleries.rows import RowFile, read_rows, row_source
from app.pipeline.galleries.vector_index import INDEX_DIR, INDEX_FILE, PQIndex, build_index
from app.pipeline.scoring.scorers import Aggregation, CosineScorer, IndexedCosineScorer, rank_identities


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A 20,000-row synthetic gallery with its index, built from the demo gallery."""
    from app import create_app
    from conftest import require_setup

    require_setup()
    app = create_app({"TESTING": True, "GALLERY": "demo"})
    engine = app.extensions["lookslike"]
    galleries = str(tmp_path_factory.mktemp("galleries"))
    gallery = write_synthetic(engine.gallery, galleries, "synth", 20_000, app.config, seed=1, index=True)
    return galleries, gallery


def test_index_agrees_with_exact_scoring(synth):
    _, gallery = synth
    exact = CosineScorer(gallery.embeddings)
    index = PQIndex(gallery.path, gallery.embeddings, "synth")
    indexed = IndexedCosineScorer(RowFile(gallery.embeddings), index, 1000)  # as served: rows read with pread
    members, _, _ = synthetic_rows(np.asarray(gallery.embeddings[:86]), 100, seed=7)  # new photos of...
    visitors = unit(np.random.default_rng(3).standard_normal((100, 128)) * 0.1 + members)  # ...and new people
    for aggregation in (Aggregation("max"), Aggregation("mean_n", 3)):
        hits = {"exact": 0, "index": 0}
        for q in np.r_[members, visitors]:  # the reference aggregates every row of every identity
            want = {m.identity for m in rank_identities(exact.row_scores(q), gallery.embeddings, q, gallery.labels,
                                                        gallery.identities, 10, aggregation)}
            for name, scorer in (("exact", exact), ("index", indexed)):
                got = scorer.rank(q, gallery.labels, gallery.identities, 10, aggregation)
                hits[name] += len(want & {m.identity for m in got})
        assert hits["exact"] / 2000 >= 0.99 and hits["index"] / 2000 >= 0.99, (aggregation, hits)


def test_api_answer_has_the_same_shape_with_and_without_index(synth, make_app):
    galleries, gallery = synth
    from conftest import read, val_photos

    bodies = {}
    for mode in ("exact", "ann"):
        client = make_app(GALLERIES_DIR=galleries, GALLERY="synth", INDEX=mode).test_client()
        bodies[mode] = client.post("/api/v1/match", json={"image": __import__("base64").b64encode(
            read(val_photos()[0][1])).decode()}).get_json()
        ready = client.get("/readyz").get_json()
        assert ready["index"]["kind"] == ("exact" if mode == "exact" else "pq-fastscan")
    assert set(bodies["exact"]) == set(bodies["ann"]) and bodies["exact"]["matches"][0].keys() == \
        bodies["ann"]["matches"][0].keys()
    assert [m["identity"] for m in bodies["exact"]["matches"]] == [m["identity"] for m in bodies["ann"]["matches"]]


def test_corrupt_or_mismatched_index_stops_start_up(synth, tmp_path):
    _, gallery = synth
    copy = tmp_path / "v"
    os.makedirs(copy / INDEX_DIR)
    build_index(str(copy), np.asarray(gallery.embeddings[:5000]))  # an index of another matrix
    with pytest.raises(StartupError, match="does not match the gallery matrix.*flask gallery index synth"):
        PQIndex(str(copy), gallery.embeddings, "synth")
    with open(copy / INDEX_DIR / INDEX_FILE, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(StartupError, match="missing or corrupt.*flask gallery index synth"):
        PQIndex(str(copy), gallery.embeddings, "synth")


def resident_mb(path: str) -> float:
    """Resident memory (MB) of every mapping of a file in this process, from /proc/self/smaps."""
    inside, total = False, 0
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line: start-end perms ... path
                inside = line.rstrip().endswith(path)
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total / 1024


def test_row_file_reads_what_the_map_holds_without_mapping_it(synth):
    _, gallery = synth
    matrix = np.load(os.path.join(gallery.path, "embeddings.npy"), mmap_mode="r")  # a new map: nothing resident
    rows = RowFile(matrix)
    pick = np.array([5, 0, len(matrix) - 1, -1, 5, 123])
    assert np.array_equal(rows[pick], matrix[pick]) and np.array_equal(rows[7], matrix[7])
    assert np.array_equal(rows[10:20], matrix[10:20]) and np.array_equal(rows[0:30:7], matrix[0:30:7])
    assert np.array_equal(read_rows(matrix, pick), matrix[pick])
    with pytest.raises(IndexError):
        rows[np.array([len(matrix)])]
    with pytest.raises(TypeError):
        RowFile(matrix[1:])  # a slice of the map has no file of its own
    scorer = IndexedCosineScorer(rows, PQIndex(gallery.path, matrix, "synth"), 1000)
    before = resident_mb(os.path.realpath(matrix.filename))  # every map of the file, any other one too
    for q in unit(np.random.default_rng(9).standard_normal((50, 128))):
        scorer.rank(q, gallery.labels, gallery.identities, 10, Aggregation("mean_n", 3))
    # Through a map, one shortlist of 1,000 rows already makes most of this 10 MB matrix resident.
    assert resident_mb(os.path.realpath(matrix.filename)) - before < 0.5


def test_truncated_matrix_is_reported_by_the_row_reader(synth, tmp_path):
    _, gallery = synth
    path = tmp_path / "m.npy"
    np.save(path, np.asarray(gallery.embeddings[:100]))
    rows = RowFile(np.load(path, mmap_mode="r"))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 512 * 10)
    with pytest.raises(OSError, match="shorter"):
        rows[np.array([95])]


def test_big_matrices_are_read_with_pread_small_ones_through_the_map(synth, monkeypatch):
    _, gallery = synth
    assert row_source(gallery.embeddings) is gallery.embeddings  # 10 MB: mapping it costs little
    monkeypatch.setattr("app.pipeline.galleries.rows.MAPPED_MAX_BYTES", 1 << 20)
    assert isinstance(row_source(gallery.embeddings), RowFile)
    plain = np.array(gallery.embeddings[:100])
    assert row_source(plain) is plain  # an in-memory matrix is used as it is
