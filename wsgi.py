"""WSGI entry point for gunicorn: `gunicorn wsgi:app` (no --preload: TensorFlow must start in each worker)."""

from app import create_app

app = create_app()
