"""Benchmark results reach docs/performance.md only through files the benchmarks wrote (bench/report.py,
bench/performance_page.py, bench/suite_runs.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT

BENCH = os.path.join(ROOT, "bench")


def bench_module(name: str):
    """A bench/ script as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


page = bench_module("performance_page")


def test_the_performance_page_is_the_template_and_the_tables():
    """Hand edits to the page, or a table rewritten without `make bench-docs`, fail here."""
    with open(page.TEMPLATE, encoding="utf-8") as f:
        expected = page.assemble(f.read())
    with open(page.PAGE, encoding="utf-8") as f:
        assert f.read() == expected, "docs/performance.md is out of date: run `make bench-docs`"


def test_every_table_in_docs_bench_is_on_the_page():
    with open(page.TEMPLATE, encoding="utf-8") as f:
        assert page.unused_tables(f.read()) == []


def test_a_table_not_measured_yet_says_which_command_measures_it(tmp_path):
    (tmp_path / "measured.md").write_text("- Command: `python bench/x.py`\n\n| a |\n| --- |\n| 1 |\n")
    out = page.assemble("# P\n\n{{table measured.md | make bench}}\n\n{{table missing.md | make bench-load}}\n",
                        str(tmp_path))
    assert "#### `make bench` → `docs/bench/measured.md`\n\n- Command: `python bench/x.py`\n\n| a |" in out
    assert "#### `make bench-load` → `docs/bench/missing.md`\n\nNot yet measured: run `make bench-load`." in out


def test_the_template_may_not_hold_a_typed_table(tmp_path):
    with pytest.raises(page.TemplateError, match="typed by hand"):
        page.assemble("# P\n\n| latency | 80 ms |\n", str(tmp_path))
    with pytest.raises(page.TemplateError, match="not a placeholder"):
        page.assemble("{{table latency | make bench}}\n", str(tmp_path))


def test_a_result_file_names_its_command_machine_load_and_commit(tmp_path):
    report = bench_module("report")
    result = report.Report(str(tmp_path / "out" / "t.md"))
    result.command = report.command_line([os.path.join(BENCH, "latency.py"), "--rounds", "1"],
                                         {"LOOKSLIKE_RUNTIME": "onnx", "HOME": "/root"})
    assert result.table(["photos", "ms"], [["demo | val", 75]], "caption") == (
        "| photos | ms |\n| --- | --- |\n| demo \\| val | 75 |")
    result.write()
    text = (tmp_path / "out" / "t.md").read_text()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    assert "bench/latency.py --rounds 1`" in text and "- Command: `LOOKSLIKE_RUNTIME=onnx " in text
    assert "HOME" not in text
    assert f"{os.cpu_count()} CPUs" in text and "GiB memory" in text and "UTC" in text
    assert "Load average (1 / 5 / 15 min): " in text and " before, " in text
    assert f"- Commit: {commit}" in text
    assert text.endswith("caption\n\n| photos | ms |\n| --- | --- |\n| demo \\| val | 75 |\n")


def test_suite_runs_tables_pytest_counts_of_real_runs(tmp_path):
    (tmp_path / "test_tiny.py").write_text(
        "import pytest\n\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n\n"
        "@pytest.mark.skip(reason='tiny')\ndef test_c():\n    pass\n")
    out_file = tmp_path / "runs.md"
    done = subprocess.run([sys.executable, os.path.join(BENCH, "suite_runs.py"), "--runs", "2",
                           "--pytest-args", f"{tmp_path / 'test_tiny.py'} -p no:cacheprovider",
                           "--markdown", str(out_file)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in out_file.read_text().splitlines() if line.startswith("| 1 ") or
            line.startswith("| 2 ")]
    assert [r[:5] for r in rows] == [["| 1", "2", "0", "1", "-"], ["| 2", "2", "0", "1", "-"]]
    assert "2 runs in a row, no added load" in out_file.read_text()
