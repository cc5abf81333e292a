"""deploy/nginx.conf and docker-compose.yml agree with the app's limits; nginx accepts the config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from app.config import DEFAULTS
from conftest import ROOT


def text(name: str) -> str:
    """A file of the repository."""
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def test_nginx_body_limit_matches_max_content_length():
    size = re.search(r"client_max_body_size (\d+)m;", text("deploy/nginx.conf")).group(1)
    assert int(size) * 1024 * 1024 == DEFAULTS["MAX_CONTENT_LENGTH"]
    assert re.search(r"client_body_buffer_size (\d+)m;", text("deploy/nginx.conf")).group(1) == size
    assert f"larger than the {size} MB limit" in text("deploy/nginx.conf")


def test_compose_runs_the_image_behind_nginx_with_one_trusted_hop():
    import yaml  # comes with openapi-spec-validator

    services = yaml.safe_load(text("docker-compose.yml"))["services"]
    app = services["app"]
    assert app["image"] == "lookslike" and "build" not in app and "ports" not in app  # reached through nginx only
    assert app["environment"]["LOOKSLIKE_TRUSTED_PROXIES"] == "1"
    assert app["environment"]["LOOKSLIKE_RATE_LIMIT_STORAGE_URI"].startswith("redis://redis:")
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]


def test_nginx_accepts_the_config(tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light to run this check)")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    site = text("deploy/nginx.conf").replace("server app:8000;", "server 127.0.0.1:8409;")
    site = re.sub(r"/etc/letsencrypt/live/[^/]+/fullchain.pem", str(tmp_path / "cert.pem"), site)
    site = re.sub(r"/etc/letsencrypt/live/[^/]+/privkey.pem", str(tmp_path / "key.pem"), site)
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)", version)
    if found and (int(found.group(1)), int(found.group(2))) < (1, 25):
        site = site.replace("http2 on;", "")  # the directive is newer than this nginx; the image has 1.27
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    main = (f"pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
            f"events {{}}\nhttp {{ access_log off; {temp} include {tmp_path / 'site.conf'}; }}\n")
    (tmp_path / "main.conf").write_text(main)
    result = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "main.conf")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
