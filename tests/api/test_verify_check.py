"""Verification, one-shot subject check and the pairs protocol, on real photos."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import multipart_files, read, val_photos
from models.calibration import Calibration, expected_calibration_error, fit_logistic, reliability_table

files = multipart_files  # multipart dict: bytes as files, lists as repeated fields


def by_identity() -> dict[str, list[str]]:
    """Val photo paths grouped by identity."""
    groups: dict[str, list[str]] = {}
    for identity, path in val_photos():
        groups.setdefault(identity, []).append(path)
    return groups


def verify_api(client, p1, p2):
    """POST two photo paths to /api/v1/verify."""
    return client.post("/api/v1/verify", data=files(photo1=read(p1), photo2=read(p2)),
                       content_type="multipart/form-data")


def test_same_and_different_people(client):
    g = by_identity()
    same = verify_api(client, g["jerry_seinfeld"][0], g["jerry_seinfeld"][2]).get_json()
    diff = verify_api(client, g["jerry_seinfeld"][0], g["mindy_kaling"][0]).get_json()
    assert same["same_person"] is True and diff["same_person"] is False
    assert same["probability"] > 0.5 > diff["probability"]
    assert same["distance"] < same["threshold"] < diff["distance"]
    assert [f["field"] for f in same["faces"]] == ["photo1", "photo2"]


def test_same_person_rate_over_all_val_pairs(client, engine):
    """Over every pair of the 25 val photos, the thresholded verdict is mostly right."""
    from app.pipeline.scoring.verification import verify
    emb = {p: engine.analyze(read(p)).embedding for _, p in val_photos()}
    ident = {p: i for i, p in val_photos()}
    paths = sorted(emb)
    right = total = 0
    for a in range(len(paths)):
        for b in range(a + 1, len(paths)):
            v = verify(emb[paths[a]], emb[paths[b]], engine.scorer, engine.calibration)
            right += v.same == (ident[paths[a]] == ident[paths[b]])
            total += 1
    assert right / total > 0.9, f"{right}/{total}"


def test_api_page_and_cli_agree(client, app):
    g = by_identity()
    p1, p2 = g["madonna"][0], g["madonna"][3]
    api = verify_api(client, p1, p2).get_json()
    cli = app.test_cli_runner().invoke(args=["verify", p1, p2, "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output) == api
    page = client.post("/verify", data=files(photo1=read(p1), photo2=read(p2)),
                       content_type="multipart/form-data").get_data(as_text=True)
    heading = page.split('id="verdict-heading"', 1)[1].split("</h1>", 1)[0]
    assert ("the same person" if api["same_person"] else "different people") in heading
    assert f"{api['probability']:.4f}" in page and f"{api['distance']:.3f}" in page  # in the details
    assert page.count('src="data:image/jpeg;base64,') == 2 and page.count("<h1") == 1


def test_json_base64_verify(client):
    import base64
    g = by_identity()
    body = {"image1": base64.b64encode(read(g["elton_john"][0])).decode(),
            "image2": base64.b64encode(read(g["elton_john"][1])).decode()}
    resp = client.post("/api/v1/verify", json=body)
    assert resp.status_code == 200 and resp.get_json()["same_person"] is True


def test_verify_errors_name_the_field(client):
    g = by_identity()
    resp = client.post("/api/v1/verify", data=files(photo1=read(g["madonna"][0]), photo2=b"text, not image"),
                       content_type="multipart/form-data")
    assert resp.status_code == 415 and resp.get_json()["field"] == "photo2"
    assert resp.get_json()["message"].startswith("photo2:")
    resp = client.post("/api/v1/verify", data=files(photo1=read(g["madonna"][0])),
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.get_json()["field"] == "photo2"
    page = client.post("/verify", data=files(photo1=b"nope", photo2=read(g["madonna"][0])),
                       content_type="multipart/form-data")
    assert page.status_code == 415 and "First photo:" in page.get_data(as_text=True)  # the field, in words
    big = b"\0" * (client.application.config["MAX_CONTENT_LENGTH"] + 1)
    page = client.post("/verify", data=files(photo1=big, photo2=read(g["madonna"][0])),
                       content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 413 and "larger than the" in html and 'name="photo2"' in html


def test_subject_check_against_demo_gallery(client):
    """Each val photo is accepted as its own celebrity and rejected as every other one."""
    identities = sorted(by_identity())
    errors = []
    for identity, path in val_photos():
        for subject in identities:
            body = client.post("/api/v1/check", data=files(photo=read(path), subject=subject),
                               content_type="multipart/form-data").get_json()
            if body["is_subject"] != (subject == identity):
                errors.append((os.path.basename(path)[:30], subject, body["probability"]))
    assert len(errors) <= 6, errors  # out of 125 checks


def test_check_with_uploaded_anchors_and_errors(client, app):
    g = by_identity()
    anchors = [read(p) for p in g["mindy_kaling"][1:4]]
    ok = client.post("/api/v1/check", data=files(photo=read(g["mindy_kaling"][0]), anchor=anchors),
                     content_type="multipart/form-data").get_json()
    no = client.post("/api/v1/check", data=files(photo=read(g["elton_john"][0]), anchor=anchors),
                     content_type="multipart/form-data").get_json()
    assert ok["is_subject"] and not no["is_subject"] and ok["anchors_used"] == 3
    assert ok["probability"] > no["probability"]
    bad = client.post("/api/v1/check", data=files(photo=read(g["elton_john"][0]),
                                                   anchor=anchors + [b"garbage"]),
                      content_type="multipart/form-data")
    assert bad.status_code == 415 and bad.get_json()["field"] == "anchor[3]"
    both = client.post("/api/v1/check", data=files(photo=read(g["elton_john"][0]), anchor=anchors,
                                                    subject="madonna"), content_type="multipart/form-data")
    assert both.status_code == 400
    many = client.post("/api/v1/check", data=files(photo=read(g["elton_john"][0]), anchor=anchors * 4),
                       content_type="multipart/form-data")
    assert many.status_code == 400
    unknown = client.post("/api/v1/check", data=files(photo=read(g["elton_john"][0]), subject="Nobody"),
                          content_type="multipart/form-data")
    assert unknown.status_code == 400 and unknown.get_json()["field"] == "subject"
    cli = app.test_cli_runner().invoke(args=["check", g["madonna"][1], "--subject", "Madonna", "--json"])
    assert cli.exit_code == 0 and json.loads(cli.output)["is_subject"] is True


def test_cli_check_with_anchor_folder(app, tmp_path):
    g = by_identity()
    anchors = tmp_path / "anchors"
    (anchors / "subfolder").mkdir(parents=True)  # ignored, not an error
    for i, p in enumerate(g["jerry_seinfeld"][1:]):
        (anchors / f"{i}.jpg").write_bytes(read(p))
    runner = app.test_cli_runner()
    same = runner.invoke(args=["check", g["jerry_seinfeld"][0], "--anchors", str(anchors), "--json"])
    other = runner.invoke(args=["check", g["madonna"][0], "--anchors", str(anchors), "--json"])
    assert same.exit_code == 0 and other.exit_code == 0, same.output + other.output
    assert json.loads(same.output)["is_subject"] and not json.loads(other.output)["is_subject"]
    assert json.loads(same.output)["anchors_used"] == 4


def test_evaluate_pairs_on_real_photos(app, tmp_path):
    """A small LFW-format pairs file over the demo photos, with one missing file."""
    images = tmp_path / "images"
    g = by_identity()
    for identity, paths in g.items():  # LFW naming: Name/Name_0001.jpg
        (images / identity).mkdir(parents=True)
        for i, p in enumerate(paths, 1):
            (images / identity / f"{identity}_{i:04d}.jpg").write_bytes(read(p))
    names = sorted(g)
    same = [f"{n}\t{i}\t{j}" for n in names for i, j in ((1, 2), (3, 4), (2, 5))]
    diff = [f"{a}\t{i}\t{b}\t{i}" for a in names for b in names if a < b for i in (1, 3)][:15]
    same[0] = f"{names[0]}\t1\t9"  # photo 9 does not exist: skipped
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(["1\t15"] + same + diff) + "\n")
    out = tmp_path / "report"
    result = app.test_cli_runner().invoke(args=["evaluate-pairs", str(pairs), str(images), "--out", str(out),
                                                "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["pairs_total"] == 30 and report["pairs_skipped"] == 1
    assert report["skipped_by_reason"] == {"missing": 1}
    assert report["accuracy_mean"] > 0.85 and report["auc"] > 0.9
    assert 0 <= report["calibration_cv"]["ece"] <= 0.5
    assert (out / "roc.png").stat().st_size > 1000 and (out / "report.json").is_file()


def test_logistic_fit_and_calibration_metrics():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 20000)
    p = 1 / (1 + np.exp(-(6.0 - 5.0 * x)))
    y = rng.uniform(size=x.size) < p
    a, b = fit_logistic(x, y)
    assert a == pytest.approx(6.0, abs=0.3) and b == pytest.approx(-5.0, abs=0.3)
    cal = Calibration(a=a, b=b, threshold=1.2)
    assert expected_calibration_error(cal.probability(x), y) < 0.02
    table = reliability_table(np.array([0.05, 0.15, 0.95, 0.95]), np.array([0, 0, 1, 0]))
    assert table[0]["count"] == 1 and table[9] == {"bin": "0.9-1.0", "count": 2, "predicted": 0.95,
                                                    "observed": 0.5}
    assert expected_calibration_error(np.array([0.95, 0.95]), np.array([1, 0])) == pytest.approx(0.45)
    assert cal.same(1.1) and not cal.same(1.3)
