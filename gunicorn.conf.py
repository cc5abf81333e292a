"""gunicorn settings; each can be overridden by the environment variable named beside it."""

import os

# One TensorFlow process per worker: no preload (TensorFlow does not survive a fork).
preload_app = False
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Access log lines carry time, method, path, status, size and duration only: no client address,
# user agent or referer, and never anything of the uploaded photo.
accesslog = "-"
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
