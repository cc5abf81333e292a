"""gunicorn settings; each can be overridden by the environment variable named beside it.

The app's own settings (LOOKSLIKE_*, instance/config.py) are resolved by app/settings.py, here as in
the app and its workers; names there that are no setting are reported when gunicorn starts or reloads.
"""

import os
import shutil
import sys
import tempfile

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # the app, also when run as `gunicorn`
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from app.pipeline.networks.blas_threads import one_blas_thread_unless_set  # noqa: E402

# Before anything loads NumPy: the worker class below imports it in this master, and the workers
# forked from it inherit OpenBLAS as loaded here (wsgi.py's setting would come too late).
one_blas_thread_unless_set()
from app.settings import resolve, serve_defaults  # noqa: E402

# prometheus-client's multiprocess mode: every worker writes its samples here and a scrape of any
# worker sums them. Set before any worker imports prometheus_client; emptied when gunicorn starts.
# The default is one folder per gunicorn master, so two servers on one host never mix samples.
PROMETHEUS_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                       os.path.join(tempfile.gettempdir(), f"lookslike-prometheus-{os.getpid()}"))

# Each worker loads its own networks: no preload (TensorFlow, with RUNTIME=tf, does not survive a fork).
preload_app = False
# Sizing (README "Sizing"): one worker whose CPU_SLOTS = the CPUs it may use, each slot running one
# match at a time on one ONNX Runtime thread (RUNTIME_THREADS=1): the cores stay busy without
# oversubscription, all waiting requests share one admission queue, and the networks are loaded
# once (about 350 MB). Measured on 2 cores, 2 workers x 1 slot gave the same req/s with twice the
# memory. The threads beyond the slots answer /healthz, /readyz, pages and the 503s of admission
# control while matches run, and hold the requests waiting (at most QUEUE_TIMEOUT) for a slot.
CPUS = len(os.sched_getaffinity(0))
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# A default only: CPU_SLOTS in instance/config.py, LOOKSLIKE_CPU_SLOTS or the factory's overrides win.
# The workers are forked from this process, so they inherit it (a reload sets it again).
serve_defaults(CPU_SLOTS=max(1, CPUS // workers))
# Threads: the slots' matches, the requests admission lets wait (at most about QUEUE_TIMEOUT / the
# time per match, per slot: 10 per slot at 1 s and 100 ms) and spares for /healthz. With 8 threads
# and 16 clients every thread held a waiting match and /healthz waited 580 ms for one.
threads = int(os.environ.get("GUNICORN_THREADS", str(max(32, 16 * CPUS // workers))))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Which proxies may set the scheme: none by default. Forwarded headers are the app's business
# (TRUSTED_PROXIES, werkzeug ProxyFix); gunicorn's own default would trust 127.0.0.1.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
# gthread worker that reads every request whole (headers and body, within BODY_TIMEOUT) in its
# event loop before a thread takes it, so slow clients hold no thread (app/http/buffering.py); its
# own error answers (bad request line, bad header) are JSON under /api/.
worker_class = "app.http.buffering.BufferingWorker"
# Keep-alive connections idle longer than this are closed (seconds).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Request line and header limits (gunicorn answers 414/431/400 past them).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# Access log: one JSON object per line with time, method, path (no query string), status, size,
# duration and worker pid: no client address (unless the ACCESS_LOG_CLIENT setting is true), user agent
# or referer, and never anything of the uploaded photo. The request body read has its own deadline
# in the app (BODY_TIMEOUT, app/http/body.py).
accesslog = "-"
logger_class = "app.http.serving.JsonAccessLogger"
errorlog = "-"


def report_unknown_settings(server):
    """Log each name in instance/config.py or the LOOKSLIKE_* environment that is no setting."""
    for line in resolve().report:
        server.log.warning(line)


def on_starting(server):
    """Empty the metrics directory (samples of an earlier run must not be summed in); report unknown settings."""
    shutil.rmtree(PROMETHEUS_DIR, ignore_errors=True)
    os.makedirs(PROMETHEUS_DIR, exist_ok=True)
    report_unknown_settings(server)


def on_reload(server):
    """A reload (HUP) reads instance/config.py again in the new workers: report its unknown settings."""
    report_unknown_settings(server)


def on_exit(server):
    """Remove the metrics directory when gunicorn stops."""
    shutil.rmtree(PROMETHEUS_DIR, ignore_errors=True)


def child_exit(server, worker):
    """A worker is gone: drop its live gauges from the metrics directory."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
