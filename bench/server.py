"""A gunicorn serving the app for the benchmarks (started on a loopback port, ready-checked, measured,
stopped), and what the benchmarks send it and read of it: photos, multipart bodies, memory, CPU."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAL = os.path.join(ROOT, "instance", "datasets", "5-celebrity-faces", "val")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


class Server:
    """gunicorn (gunicorn.conf.py) on 127.0.0.1:port with the given environment."""

    def __init__(self, port: int, env: dict[str, str], cpus: set[int] | None = None):
        self.port = port
        self.env = env
        self.cpus = cpus  # pin gunicorn to these CPUs (its default workers follow: one per CPU)
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240) -> Server:
        """Start it and wait until /readyz answers 200."""
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        self.proc = subprocess.Popen([gunicorn, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
                                      "--access-logfile", "/dev/null"] + ["wsgi:app"],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn on port {self.port} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"server at {self.url} not ready after {timeout}s")

    def stop(self) -> None:
        """Stop gunicorn and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def pids(self) -> list[int]:
        """gunicorn's master and its workers."""
        if not self.proc:
            return []
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return out


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """A process's resident memory (MB): "rss" (VmRSS), "private" (RssAnon) and "file" (RssFile + RssShmem:
    mapped files and shared memory, reclaimable page cache); empty when the process is gone."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    fields[key] = int(value.split()[0]) / 1024
    except OSError:
        return {}
    return {"rss": fields.get("VmRSS", 0.0), "private": fields.get("RssAnon", 0.0),
            "file": fields.get("RssFile", 0.0) + fields.get("RssShmem", 0.0)}


def rss_of(pid: int) -> float:
    """Resident memory of a process (MB), 0 when it is gone."""
    return memory_mb(pid).get("rss", 0.0)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def rss_mb(server: Server) -> tuple[float, float]:
    """(RSS of master and workers together, RSS of the largest worker), MB."""
    pids = server.pids()
    sizes = [rss_of(p) for p in pids]
    return sum(sizes), max(sizes[1:], default=0.0)


def multipart(fields: dict) -> tuple[bytes, str]:
    """A multipart/form-data body (bytes values as files, lists as repeated fields) and its type."""
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{key}{i}"\r\n'
                         "Content-Type: application/octet-stream\r\n\r\n".encode() + item + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def photo_bodies(files: list[str]) -> list[tuple[bytes, str]]:
    """A match request body (multipart, the file as field `photo`) and its type, per photo file."""
    bodies = []
    for path in files:
        with open(path, "rb") as f:
            bodies.append(multipart({"photo": f.read()}))
    return bodies


def embedding_bodies(files: list[str]) -> list[tuple[bytes, str]]:
    """A match request body sending the embedding that private mode's page would send (JSON), per photo
    with a face: each computed by the engine here, with this checkout's settings and networks."""
    import json

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from app import create_app
    from app.extensions import get_engine

    app = create_app({"CLI_COMMANDS": False})
    bodies = []
    with app.app_context():
        engine = get_engine()
        model_id = engine.embedding_model()["id"]
        for path in files:
            with open(path, "rb") as f:
                embedding = engine.analyze(f.read()).embedding
            body = {"embedding": [round(float(v), 7) for v in embedding], "embedding_model": model_id}
            bodies.append((json.dumps(body).encode(), "application/json"))
    return bodies


def post(url: str, body: bytes, ctype: str) -> tuple[float, dict[str, float]]:
    """POST one photo; (ms, stage ms from Server-Timing)."""
    req = urllib.request.Request(url + "/api/v1/match", data=body, method="POST", headers={"Content-Type": ctype})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()
        header = resp.headers.get("Server-Timing", "")
    stages = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, dur = part.partition(";dur=")
        stages[name] = float(dur)
    return (time.perf_counter() - start) * 1000, stages


def photo_sets(count: int) -> dict[str, list[str]]:
    """Named lists of photo files that exist here."""
    sets = {"demo val": sorted(glob.glob(os.path.join(VAL, "*", "*")))}
    lfw = sorted(glob.glob(os.path.join(SHARED, "lfw", "images", "*", "*.jpg")))
    if lfw:
        sets["LFW 250x250"] = lfw[:: max(1, len(lfw) // count)][:count]
    phone = os.path.join(SHARED, "edge-cases", "obama-1080p.jpg")
    if os.path.isfile(phone):
        sets["1080p photo"] = [phone]
    return {k: v for k, v in sets.items() if v}
