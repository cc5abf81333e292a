# LooksLike: gunicorn serving the Flask app on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    FLASK_APP=app \
    GUNICORN_BIND=0.0.0.0:8000

WORKDIR /srv/lookslike

COPY requirements.txt .
RUN pip install --upgrade pip && pip install -r requirements.txt

COPY . .

# Weights (sha256-checked) and the demo gallery are made at build time: nothing is downloaded
# when the container starts or per request.
RUN flask weights fetch \
 && flask data demo \
 && flask gallery build instance/datasets/5-celebrity-faces/train --name demo \
 && rm -rf instance/downloads

RUN useradd --system --home-dir /srv/lookslike lookslike && chown -R lookslike /srv/lookslike
USER lookslike

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
