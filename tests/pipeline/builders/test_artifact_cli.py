"""`flask gallery export` and `flask gallery import FILE|URL [--sha256] [--name]` as an operator runs them."""

from __future__ import annotations

import os

from artifact_support import (
    WEIGHTS,
    artifact_server,
    export,
    publish_people,
    read_bytes,
    rewrite_tar,
    same_rows,
    snapshot,
)

from app.pipeline.galleries.artifact import file_sha256
from app.pipeline.galleries.reader import Gallery


def instance(make_app, root):
    """A CLI app on its own instance folder (the checkout's weights)."""
    app = make_app(INSTANCE_PATH=str(root), WEIGHTS_PATH=WEIGHTS, GALLERIES_DIR=str(root / "galleries"),
                   EAGER_LOAD=False)
    return app.test_cli_runner()


def test_export_then_import_from_a_url_pinned_by_sha256(make_app, tmp_path):
    source = publish_people(str(tmp_path / "origin" / "galleries"), "celebs", ["madonna", "elton_john"])
    (tmp_path / "origin" / "calibration").mkdir()
    (tmp_path / "origin" / "calibration" / "check.json").write_text('{"a": 1, "b": -1, "threshold": 1}')
    artifact = str(tmp_path / "celebs.tar")
    exported = instance(make_app, tmp_path / "origin").invoke(args=["gallery", "export", "celebs", artifact])
    assert exported.exit_code == 0, exported.output
    assert f"gallery celebs version {source.version}" in exported.output and "calibration, gallery" in exported.output

    runner = instance(make_app, tmp_path / "fresh")
    with artifact_server() as server:
        server.files["/celebs.tar"] = read_bytes(artifact)
        url, pin = server.url("/celebs.tar"), file_sha256(artifact)
        wrong = runner.invoke(args=["gallery", "import", url, "--sha256", "f" * 64])
        assert wrong.exit_code == 1 and f"expected {'f' * 64}" in wrong.output
        assert not os.path.lexists(tmp_path / "fresh" / "galleries" / "celebs")

        done = runner.invoke(args=["gallery", "import", url, "--sha256", pin])
        assert done.exit_code == 0, done.output
        assert f"gallery celebs version {source.version} published" in done.output
        again = runner.invoke(args=["gallery", "import", url, "--sha256", pin])
        assert again.exit_code == 0 and "nothing changed" in again.output
    imported = Gallery.load(str(tmp_path / "fresh" / "galleries" / "celebs"))
    assert same_rows(imported, source) and imported.version == source.version
    assert read_bytes(str(tmp_path / "fresh" / "calibration" / "check.json")) == b'{"a": 1, "b": -1, "threshold": 1}'


def test_import_refuses_a_bad_file_and_changes_nothing(make_app, tmp_path):
    publish_people(str(tmp_path / "origin"), "g", ["madonna", "mindy_kaling"])
    export(str(tmp_path / "origin"), "g", str(tmp_path / "g.tar"))
    rewrite_tar(str(tmp_path / "g.tar"), str(tmp_path / "evil.tar"),
                lambda info, data: (info, data) if info.name != "gallery/rows.npz" else (_renamed(info), data))
    runner = instance(make_app, tmp_path / "target")
    before = snapshot(str(tmp_path / "target"))
    result = runner.invoke(args=["gallery", "import", str(tmp_path / "evil.tar"), "--name", "g"])
    assert result.exit_code == 1 and "'..' in archive member" in result.output and "nothing changed" in result.output
    after = snapshot(str(tmp_path / "target"))
    assert {k: v for k, v in after.items() if k in before} == before  # nothing there changed, nothing published
    assert set(after) - set(before) <= {"galleries", "galleries/.versions", "galleries/.versions/.artifacts.lock"}
    missing = runner.invoke(args=["gallery", "import", str(tmp_path / "nope.tar")])
    assert missing.exit_code == 2 and "neither a file nor an http(s) URL" in missing.output


def _renamed(info):
    info.name = "gallery/../../rows.npz"
    return info
