"""bench/fleet_sizing.py and bench/first_visit.py: the arithmetic of the sizing table, its instance types
against the EC2 guide's, and the bytes of a visit measured on the real app."""

from __future__ import annotations

import importlib
import io
import os
import re

import pytest

from conftest import ROOT, read, val_photos

BENCH = os.path.join(ROOT, "bench")


@pytest.fixture()
def bench(monkeypatch):
    """The bench scripts importable by name (they import each other as top-level modules)."""
    monkeypatch.syspath_prepend(BENCH)
    return importlib.import_module("fleet_sizing"), importlib.import_module("first_visit")


def test_instance_types_are_the_ones_the_ec2_guide_lists(bench):
    sizing, _ = bench
    with open(os.path.join(ROOT, "docs", "deploy-ec2.md"), encoding="utf-8") as f:
        section = f.read().split("## 5. Instance sizes", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| ([a-z0-9]+\.[a-z0-9]+) \| (\d+) / (\d+) GB \|", section, re.M)
    assert [(k.name, k.vcpus, k.memory_gib) for k in sizing.INSTANCE_TYPES] == [
        (name, int(cpus), int(gib)) for name, cpus, gib in listed]
    assert set(sizing.PRICES) == {k.name for k in sizing.INSTANCE_TYPES}


def test_instances_for_a_rate(bench):
    sizing, _ = bench
    large = sizing.INSTANCE_TYPES[0]
    each = sizing.per_instance_rate(large, cpu_ms=100.0, target=0.6)  # 2 vCPUs x 10/s x 60%
    assert each == pytest.approx(12.0)
    assert [sizing.instances_needed(rate, each) for rate in (10, 100, 120, 121, 1000)] == [2, 9, 10, 11, 84]
    assert sizing.mbit_per_s(125_000, 8) == pytest.approx(8.0)


def test_prices_can_be_given_and_are_checked(bench):
    sizing, _ = bench
    assert sizing.parse_prices(["c7i.large=0.1"])["c7i.large"] == 0.1
    with pytest.raises(SystemExit, match="TYPE=USD"):
        sizing.parse_prices(["t2.nano=0.01"])
    rows = sizing.sizing_rows(100.0, 0.6, {})
    assert rows[0][4] == "(fill in)" and rows[0][5:] == ["2", "9", "84"]


def test_a_visit_counts_the_page_its_files_the_upload_and_the_results(bench, make_app):
    _, visits = bench
    client = make_app(CLI_COMMANDS=False, PRIVATE_MODE=False).test_client()  # the upload page, with or without npm
    page = client.get("/").get_data(as_text=True)
    scripts = ["js/boot.js"] + [f"js/page/{n}" for n in os.listdir(os.path.join(ROOT, "static", "js", "page"))]
    static = ["style.css", "favicon.svg", *scripts]
    assert {f"/static/{name}" for name in static} <= set(visits.loaded_urls(page))  # every module is preloaded
    photo = visits.browser_upload(val_photos()[0][1])
    first, further = visits.visit(client, photo)
    parts = {p.name: p for p in first}
    assert parts["upload: the photo, as the page sends it"].size == len(photo)
    assert parts["CSS, JS, icon"].size == sum(os.path.getsize(os.path.join(ROOT, "static", name)) for name in static)
    assert parts["results' thumbnails"].files == 5  # TOP_K
    assert visits.totals(further)[0] < visits.totals(first)[0] and visits.totals(further)[1] == len(photo)


def test_the_upload_is_shrunk_as_the_page_does(bench, tmp_path):
    _, visits = bench
    from PIL import Image

    big = tmp_path / "big.png"
    Image.open(val_photos()[0][1]).convert("RGB").resize((2048, 1536)).save(big)
    shrunk = visits.browser_upload(str(big))
    with Image.open(io.BytesIO(shrunk)) as img:
        assert img.format == "JPEG" and img.size == (1024, 768)
    assert len(shrunk) < len(read(str(big)))
