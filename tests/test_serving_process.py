"""What a gunicorn worker loads with the default runtime: no TensorFlow, and within the memory budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT, require_setup, val_photos

PROBE = """
def peak_rss_mb():
    # VmHWM: this process's peak RSS (ru_maxrss would carry the pytest parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
import json, sys
import wsgi
client = wsgi.app.test_client()
statuses = [client.post("/api/v1/match", data={"photo": (open(p, "rb"), "p.jpg")}).status_code
            for p in sys.argv[1:]]
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "mtcnn", "tf2onnx", "keras_facenet"})
print(json.dumps({"runtime": wsgi.app.extensions["lookslike"].runtime, "statuses": statuses, "heavy": heavy,
                  "peak_rss_mb": peak_rss_mb()}))
"""


def test_onnx_serving_process_never_imports_tensorflow():
    require_setup()
    photos = [path for _, path in val_photos()[::5]]
    env = {**os.environ, "LOOKSLIKE_RUNTIME": "onnx", "LOOKSLIKE_GALLERY": "demo"}
    out = subprocess.run([sys.executable, "-c", PROBE, *photos], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["runtime"] == "onnx" and report["statuses"] == [200] * len(photos)
    assert report["heavy"] == [], f"the serving process imported {report['heavy']}"
    assert report["peak_rss_mb"] < 600, report  # one worker fits a 1 GB instance
