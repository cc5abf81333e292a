"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: each worker loads its own networks).

EAGER_LOAD: each worker builds its networks and opens the gallery before its first request.
REPORT_STARTUP_ERRORS: when that fails (corrupt weights or gallery), the worker stays up and /readyz
answers 503 with the message that names the file and the fix, instead of a boot-loop traceback.
CLI_COMMANDS off: the operator commands (and the TensorFlow their training imports) are not loaded,
so with RUNTIME onnx a worker never imports TensorFlow.
"""

from app import create_app

app = create_app({"EAGER_LOAD": True, "REPORT_STARTUP_ERRORS": True, "CLI_COMMANDS": False})
