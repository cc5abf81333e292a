"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: each worker loads its own networks).

EAGER_LOAD: each worker builds its networks and opens the gallery before its first request.
REPORT_STARTUP_ERRORS: when that fails (corrupt weights or gallery), the worker stays up and /readyz
answers 503 with the message that names the file and the fix, instead of a boot-loop traceback.
CLI_COMMANDS off: the operator commands (and the TensorFlow their training imports) are not loaded,
so with RUNTIME onnx a worker never imports TensorFlow.
BLAS threads: one per process (app/pipeline/networks/blas_threads.py), set before NumPy loads; under
gunicorn its configuration has already set them, before its worker class imports NumPy.
"""

from app.pipeline.networks.blas_threads import one_blas_thread_unless_set

one_blas_thread_unless_set()

from app import create_app  # noqa: E402  (after the thread settings, which numpy reads when loaded)

app = create_app({"EAGER_LOAD": True, "REPORT_STARTUP_ERRORS": True, "CLI_COMMANDS": False})
