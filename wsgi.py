"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: each worker loads its own networks).

EAGER_LOAD: each worker builds its networks and opens the gallery before its first request.
REPORT_STARTUP_ERRORS: when that fails (corrupt weights or gallery), the worker stays up and /readyz
answers 503 with the message that names the file and the fix, instead of a boot-loop traceback.
CLI_COMMANDS off: the operator commands (and the TensorFlow their training imports) are not loaded,
so with RUNTIME onnx a worker never imports TensorFlow.
BLAS threads: one per process, set before numpy loads OpenBLAS. Its extra worker thread busy-waits
after every call; measured, it burned a second core for the whole of each match (CPU 211 ms per
100 ms match), taking that core from the other CPU slot. Matches parallelize over CPU_SLOTS instead.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from app import create_app  # noqa: E402  (after the thread settings, which numpy reads when loaded)

app = create_app({"EAGER_LOAD": True, "REPORT_STARTUP_ERRORS": True, "CLI_COMMANDS": False})
