"""A small fleet for the tests: a redis-server, app servers (gunicorn_support) and nginx in front of them,
on loopback ports of the caller's range. A test needing a program that is not installed is skipped and
says how to install it (`make fleet-tools`: Debian's redis-server and nginx)."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import ROOT, stop_server

PRODUCTION_NGINX = os.path.join(ROOT, "deploy", "nginx.conf")


def program(name: str) -> str:
    """The path of an installed program (also in /usr/sbin, off a non-root PATH), or skip the test."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed: `make fleet-tools` (as root) or "
                    "`sudo apt-get install -y redis-server nginx` runs this check")
    return found


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60, log: Path | None = None,
               every: float = 0.1) -> None:
    """Poll `condition` every `every` seconds (errors count as not yet) until it holds; fail naming `what`
    after `seconds`, with the end of `log`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if condition():
                return
        time.sleep(every)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"{what} within {seconds:.0f} s\n{tail}")


class Redis:
    """A throwaway redis-server on 127.0.0.1:port (no persistence) that a test can stop and start again."""

    def __init__(self, folder: Path, port: int):
        self.binary = program("redis-server")
        self.folder, self.port = folder, port
        self.uri = f"redis://127.0.0.1:{port}/0"
        self.log = folder / "redis.log"
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def command(self, *words: str) -> str:
        """One command over the wire (RESP); the first line of the answer, e.g. "+PONG"."""
        request = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(request.encode())
            return s.makefile("rb").readline().decode().strip()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", str(self.folder)],
                                         stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and self.command("PING") == "+PONG",
                   f"redis-server did not answer on port {self.port}", log=self.log)

    def stop(self) -> None:
        """Stop it (its port refuses connections once it has exited)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def keys(self, pattern: str) -> int:
        """How many keys match `pattern`."""
        return int(self.command("KEYS", pattern).lstrip("*"))


def production_proxy_settings(path: str = PRODUCTION_NGINX) -> list[str]:
    """The proxy_* and client_* directives of the production config (headers, buffering, timeouts), so the
    test proxy forwards requests as production does; proxy_pass and per-location lines excluded."""
    with open(path) as f:
        lines = [line.strip() for line in f]
    wanted = re.compile(r"^(proxy_(?!pass\b)\w+|client_\w+)\s[^;]*;")
    return [m.group(0) for m in map(wanted.match, lines) if m]


def nginx_config(folder: Path, port: int, upstream_ports: list[int]) -> str:
    """nginx on 127.0.0.1:port, round robin over the app servers, with production's proxy settings; each
    answer says which server gave it (X-Upstream)."""
    temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                    "scgi"))
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstream_ports)
    settings = "\n".join(f"        {line}" for line in production_proxy_settings())
    user = "user root;" if os.geteuid() == 0 else ""  # workers can reach the temporary folders of the test
    return f"""{user}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    {temp}
    upstream lookslike {{
{servers}
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
{settings}
        add_header X-Upstream $upstream_addr always;
        location / {{ proxy_pass http://lookslike; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(folder: Path, port: int, upstream_ports: list[int]) -> Iterator[int]:
    """nginx in front of the servers; yields its port once /readyz answers through it; stopped at the end."""
    binary = program("nginx")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(nginx_config(folder, port, upstream_ports))
    log = folder / "error.log"
    with open(folder / "nginx.out", "wb") as out:
        proc = subprocess.Popen([binary, "-p", str(folder), "-e", str(log), "-c", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is None and request(port, "GET", "/readyz")[0] == 200,
                   f"nginx did not answer on port {port}", log=log)
        yield port
    finally:
        stop_server(proc)


def request(port: int, method: str, path: str, body: bytes | None = None, source: str = "127.0.0.1",
            headers: dict | None = None) -> tuple[int, str]:
    """One request from the loopback address `source` (127.0.0.0/8 is all this host's: each address is
    another client to the proxy); (status, the X-Upstream server that answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Upstream", "")
    finally:
        conn.close()


def counted_post(port: int, source: str) -> tuple[int, str]:
    """A POST that counts against the rate limit and runs no network (bad base64: 400 unless limited)."""
    return request(port, "POST", "/api/v1/match", b'{"image": "!!"}', source,
                   {"Content-Type": "application/json"})
