"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: TensorFlow must start in each worker).

EAGER_LOAD: each worker builds its networks and opens the gallery before its first request.
"""

from app import create_app

app = create_app({"EAGER_LOAD": True})
