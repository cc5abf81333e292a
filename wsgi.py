"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: TensorFlow must start in each worker).

EAGER_LOAD: each worker builds its networks and opens the gallery before its first request.
REPORT_STARTUP_ERRORS: when that fails (corrupt weights or gallery), the worker stays up and /readyz
answers 503 with the message that names the file and the fix, instead of a boot-loop traceback.
"""

from app import create_app

app = create_app({"EAGER_LOAD": True, "REPORT_STARTUP_ERRORS": True})
