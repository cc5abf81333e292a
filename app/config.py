"""Every setting of LooksLike, declared once: its default and what it does (the module is longer than
the others because it holds one commented entry per setting; docs/configuration.md explains the files).

A key is a setting only when it is declared in DEFAULTS below (or is one of Flask's own keys, or
read by flask-limiter or flask-cors: EXTENSION_PREFIXES). app/settings.py resolves each one the
same way in every process (the Flask app, gunicorn's master and worker, the CLI, the workers of a
gallery build), later layers winning:

1. DEFAULTS below (under gunicorn, CPU_SLOTS defaults to the worker's share of the CPUs);
2. ``instance/config.py``: Python assignments of uppercase names (``TOP_K = 3``);
3. environment variables prefixed ``LOOKSLIKE_``, parsed as JSON where possible, else kept as
   text (``LOOKSLIKE_TOP_K=3``, ``LOOKSLIKE_GALLERY=celebs``; ``KEY__item`` sets one item of a dict);
4. the ``overrides`` mapping passed to :func:`app.create_app` (tests, wsgi.py).

The instance folder is <repository>/instance unless LOOKSLIKE_INSTANCE_PATH (or INSTANCE_PATH in
the overrides) names another one.

A name in 2 or 3 that is no setting (a typo such as MAX_CONTENT_LENGHT) is reported at start, in
the app's log and by gunicorn, with the nearest real name.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # --- requests -------------------------------------------------------------------------
    # Largest accepted request body (bytes); larger uploads get HTTP 413 (gunicorn's worker then
    # hands the request to the app at once instead of waiting for the body, app/http/buffering.py).
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # Largest accepted image (width x height, decoded); larger ones get HTTP 413.
    "MAX_IMAGE_PIXELS": 40_000_000,
    # Memory one image may take once decoded (MB): width x height x channels x bytes per sample of
    # its first frame (at least 3 bytes a pixel), read from the header before decoding; larger ones
    # get HTTP 413 "decode_too_large". JPEGs are decoded at 1/2-1/8 scale whenever that keeps 3/4 of
    # DETECT_MAX_SIDE, so this counts their reduced size. Sizing (measured, README "Security and
    # limits"): one request adds about 1.6 x this budget + 65 MB for detection, ~115 MB at 32, to
    # a worker of 360-480 MB (ONNX runtime; 887 MB with RUNTIME=tf).
    "DECODE_BUDGET_MB": 32,
    # Images are downscaled so the longer side is at most this before detection (px); a JPEG may
    # come out between 3/4 of it and it, decoded at reduced scale with no resize (imaging.py).
    "DETECT_MAX_SIDE": 1024,
    # --- face detection (MTCNN) -----------------------------------------------------------
    # Smallest face MTCNN looks for, in pixels of the (downscaled) detection image.
    "MTCNN_MIN_FACE_SIZE": 20,
    # At most this many faces per photo are kept (the largest; the answer counts the others) and
    # MTCNN checks only the largest candidates for them (app/pipeline/networks/mtcnn_candidates.py).
    "MAX_FACES": 20,
    # Detections under this confidence are ignored.
    "DETECT_MIN_CONFIDENCE": 0.80,
    # Which face a photo is about: "central" (of the faces at least half as large as the largest,
    # the one nearest the centre) or "largest". See bench/crop_variants.py for the measurement.
    "FACE_CHOICE": "central",
    # The chosen face's box must be at least this many pixels on its shorter side, in the
    # decoded photo; smaller faces get HTTP 422 "face_too_small".
    "MIN_FACE_PX": 32,
    # Margin added on every side of MTCNN's box before cropping, as a fraction of the box's
    # longer side (0.15: 33 px in all across a 110 px LFW face; measured in bench/crop_variants.py).
    "CROP_MARGIN": 0.15,
    # Rotate each face so its eyes are level (MTCNN landmarks) before cropping.
    "CROP_ALIGN": False,
    # Pyramid pruning of the ONNX detector: skip the levels that only find faces smaller than this
    # fraction of the photo's shorter side (at least MTCNN_MIN_FACE_SIZE), with a full-pyramid
    # retry when the pruned pass finds no face or only small ones (app/pipeline/networks/mtcnn_onnx.py). 0: the
    # full pyramid. The main face is the same as mtcnn 1.0's either way; see README "Speed".
    "DETECT_MIN_FACE_FRACTION": 0.1,
    # --- runtime of the networks ------------------------------------------------------------
    # "onnx": MTCNN and FaceNet converted at `flask weights fetch` (instance/weights/*.onnx, checked
    # against TensorFlow) run by ONNX Runtime; TensorFlow is never imported by the server. "tf":
    # the reference path (mtcnn 1.0 + Keras). "auto": onnx when the converted files exist, else tf.
    "RUNTIME": "auto",
    # Threads each network call may use (ONNX Runtime intra-op, OpenCV). 1 per CPU slot: throughput
    # comes from running CPU_SLOTS requests at once, not from splitting one across cores.
    "RUNTIME_THREADS": 1,
    # Threads FaceNet may use when its match is the only one running in the process (the other CPU
    # slots idle): one visitor at a time gets the spare cores (LFW photo 107 -> 80 ms on 2 cores),
    # a loaded server keeps RUNTIME_THREADS per match. 0: CPU_SLOTS (the cores this worker may use);
    # 1: off. Costs a second FaceNet session (about 90 MB).
    "RUNTIME_THREADS_ALONE": 0,
    # --- capacity and overload ----------------------------------------------------------------
    # Requests that run the networks (every POST) at once per process; the others wait their turn.
    # gunicorn threads beyond this answer /healthz, /readyz, pages and the 503s while matches run.
    # Under gunicorn the default is the worker's share of the CPUs it may use (CPUs / WEB_CONCURRENCY,
    # at least 1; gunicorn.conf.py), which instance/config.py or LOOKSLIKE_CPU_SLOTS replace; 1 elsewhere.
    "CPU_SLOTS": 1,
    # Longest a request may wait for a CPU slot (ms). A request whose expected wait (the queue
    # ahead times the recent time per request) is longer gets 503 "overloaded" with Retry-After at
    # once; one still waiting at the bound gets it then.
    "QUEUE_TIMEOUT": 1000,
    # Whole-request budget (ms) from the moment the app sees it: work not finished by then is
    # abandoned between stages with 503 "deadline_exceeded" (a client has usually given up by then).
    "REQUEST_DEADLINE": 10000,
    # Seconds sent in Retry-After with the 503s above (also by gunicorn's worker, app/http/buffering.py).
    "RETRY_AFTER": 1,
    # --- embedding (FaceNet) --------------------------------------------------------------
    "EMBED_BATCH_SIZE": 32,
    # Gallery builds: local processes that detect and embed (0: one per CPU; 1: the command's own process).
    "BUILD_WORKERS": 0,
    # Average the embedding of the crop and of its mirror image.
    "EMBED_FLIP": False,
    # --- gallery & scoring ----------------------------------------------------------------
    # Gallery served by the app: instance/galleries/<GALLERY>. Empty: the first of
    # GALLERY_PREFERENCE that has been built (the IMDb/Wikipedia celebrities once `make gallery-celebs`
    # ran, else LFW once `make gallery-lfw` ran, else the demo).
    "GALLERY": "",
    "GALLERY_PREFERENCE": ["celebs", "lfw", "demo"],
    # A gallery artifact to serve (`flask gallery export`; docs/galleries.md): with EAGER_LOAD each server
    # fetches and verifies it and imports it (under GALLERY, else its own name) before it is ready.
    # GALLERY_SHA256 pins it (a roll-out then changes the pin). Every GALLERY_CHECK_SECONDS (0: never)
    # the URL's ETag is checked; a new version is verified and loaded, then swapped in.
    "GALLERY_URL": "",
    "GALLERY_SHA256": "",
    "GALLERY_CHECK_SECONDS": 300,
    # Fetch attempts, first wait between them (s, doubling, at most 60), timeout of each connect or read (s).
    "GALLERY_FETCH_ATTEMPTS": 5,
    "GALLERY_FETCH_BACKOFF": 1.0,
    "GALLERY_FETCH_TIMEOUT": 30,
    "TOP_K": 5,
    # Photos of one visitor a match may carry (multipart `photo` repeated, JSON `images`): each must
    # show the same person (verification calibration), and they are matched together.
    "MATCH_PHOTOS_MAX": 3,
    # Two of those photos are "different people" when the verification calibration gives them a
    # probability of the same person below this (the F1 threshold refuses 4% of one person's pairs).
    "MATCH_SAME_PERSON_MIN_P": 0.01,
    "TOP_K_MAX": 20,
    # Vector index: "exact" scores every row; "ann" uses the gallery's index (faiss PQ fast-scan,
    # built by `flask gallery build` above INDEX_MIN_ROWS or by `flask gallery index`); "auto":
    # the index when the gallery has one and at least INDEX_MIN_ROWS rows, else exact.
    "INDEX": "auto",
    "INDEX_MIN_ROWS": 50_000,
    # Rows the index shortlists per query, reranked exactly (measured in bench/scoring.py).
    "INDEX_SHORTLIST": 1000,
    # Per-identity aggregation: "centroid" (cosine to the normalized mean of all its photos), "max"
    # (best photo) or "mean_n" (mean of the n best photos). Centroid: a celebrity no longer wins by
    # having many photos (LFW visitors: hub share 0.146 -> 0.111, identification +0.15 points, the
    # same stability; docs/evaluation-levers.md).
    "SCORE_AGGREGATE": "centroid",
    "SCORE_MEAN_N": 3,
    # Per-celebrity normalisation of the aggregated scores against stand-in visitors (the gallery's
    # own photos): "znorm" (z-normalised per identity; stored by `flask gallery build`, else fitted
    # at start-up) or "none". Measured on LFW it lowers the hub share no further than "centroid"
    # does and costs identification (docs/evaluation-levers.md), so it is off.
    "HUB_CORRECTION": "none",
    # A first match is "clear" when it leads the second by at least this margin (of ranking scores,
    # cosine scale), else a "close_call"; per number of photos matched together. The margins above
    # which LFW visitors' first match stayed first with other photos (as many) 80% of the time,
    # under the default scoring; null: at no margin (such answers are always close calls). Fitted by
    # `flask evaluate --protocol lookalike --gallery lfw --folds 5` (its CERTAINTY_CLEAR_MARGIN
    # line); refit when SCORE_AGGREGATE, HUB_CORRECTION or the gallery change.
    "CERTAINTY_CLEAR_MARGIN": {"1": None, "2": None, "3": 0.1018},
    # Learned matching: a model under instance/models/<MATCH_MODEL>/ (from `flask train`) scores
    # matches with its encoder + similarity network; "" keeps plain cosine. "auto" (the default):
    # the served gallery's own model (instance/models/<gallery name>/, `flask train --gallery NAME`)
    # when one was trained and its validation verdict says it beats cosine (closed-set top-1 by a
    # point and look-alike stability, within 0.3 points of open-set top-1), else cosine. See README.
    "MATCH_MODEL": "auto",
    # How a learned model ranks: "encoder" (cosine of the encoder's outputs; the similarity network
    # verifies pairs) or "network" (the similarity network reranks a shortlist). See README.
    "LEARNED_SCORER": "encoder",
    # Rows the learned scorer reranks after a cosine shortlist (absprod / chi2 combiners).
    "LEARNED_SHORTLIST": 200,
    # Thumbnail size (px) of gallery rows: pages show them at up to 180 CSS px (the results' faces),
    # so 360 keeps them sharp on 2x screens (like the visitor's own face, web.PAGE_FACE_SIZE).
    "THUMB_SIZE": 360,
    # --- verification (same person?) and one-shot subject check ---------------------------------
    # p(same) = sigmoid(a + b * distance) between two FaceNet embeddings (Euclidean, unit vectors);
    # "same person" when distance <= threshold (F1-optimal). Fitted by
    # `flask evaluate-pairs ../shared/data/lfw/pairsDevTrain.txt ../shared/data/lfw/images --save`,
    # which writes instance/calibration/facenet.json; that file, when present, replaces these.
    "VERIFY_CALIBRATION": {"a": 31.642, "b": -28.756, "threshold": 1.0742,
                           "fitted_on": "LFW pairsDevTrain.txt (1560 resolvable pairs)"},
    # A subject check scores the median distance from the probe to the anchors (uploads: at most
    # CHECK_MAX_ANCHORS; a gallery subject: all of its photos), with its own calibration, fitted by
    # `flask evaluate-check --gallery lfw --save` (instance/calibration/check.json replaces this).
    "CHECK_MAX_ANCHORS": 10,
    "CHECK_CALIBRATION": {"a": 29.658, "b": -27.474, "threshold": 1.0940,
                          "fitted_on": "LFW gallery, 2710 simulated checks with 1-10 anchors"},
    # --- request parsing: bounds on what one client's request may cost ------------------------
    # Largest text (non-file) part of a multipart form, in bytes (Flask/werkzeug; 413 above).
    "MAX_FORM_MEMORY_SIZE": 500_000,
    # Most parts in one multipart form (werkzeug; 413 above).
    "MAX_FORM_PARTS": 1000,
    # Deepest nesting of a JSON body (our bodies need 2); deeper ones get 400 before parsing.
    "JSON_MAX_DEPTH": 32,
    # Seconds a client may take to send the whole request; slower ones get 408. gunicorn's worker
    # reads requests within it before any thread takes them (app/http/buffering.py); the app
    # checks it again on its own body reads (nginx's client_body_timeout is the first line).
    "BODY_TIMEOUT": 60,
    # --- cross-origin, proxies, public URLs ------------------------------------------------
    # Origins whose pages may call the JSON API from a browser (CORS): a list, or a comma-separated
    # string such as LOOKSLIKE_CORS_ORIGINS=https://a.example,https://b.example. Empty (the
    # default): same-origin only. "*" (any site) only when set explicitly. Plain HTML form posts
    # to /match need no CORS and work from any site either way.
    "CORS_ORIGINS": [],
    # Seconds a browser may cache a CORS preflight answer.
    "CORS_MAX_AGE": 600,
    # Number of reverse proxies (nginx, a load balancer) in front of the app whose X-Forwarded-For,
    # -Proto and -Host headers are trusted (werkzeug ProxyFix). 0: forwarded headers are ignored
    # and the Host header is never used to build URLs.
    "TRUSTED_PROXIES": 0,
    # Scheme and host the API uses for absolute image_url links, e.g. "https://lookslike.example".
    # Empty: image_url is a path (/gallery/...), or absolute from the proxy's host when
    # TRUSTED_PROXIES is set.
    "PUBLIC_URL": "",
    # --- API keys (`flask keys create NAME`) ------------------------------------------------
    # Require X-API-Key or Authorization: Bearer on the paths below even before any key exists.
    # When a key exists, keys are required anyway.
    "REQUIRE_API_KEY": False,
    # Path prefixes that need a key when keys are in force (/healthz, /readyz and pages stay
    # open unless added here; /api/v1/openapi.json always stays open).
    "API_KEY_PATHS": ["/api/v1/"],
    # Keys every instance of a fleet accepts, beside API_KEYS_FILE's: {"NAME": "<SHA-256 hex of the key>"},
    # passed as a secret (LOOKSLIKE_API_KEYS='{"partner-a": "..."}'); `flask keys create NAME --secret`.
    "API_KEYS": {},
    # --- rate limits (flask-limiter) -----------------------------------------------------
    # Requests that run the networks (every POST), per API key or else per client address, e.g.
    # "60/minute" or "10/second;300/hour". Empty: no limit.
    "RATE_LIMIT": "",
    # Where the counters live: "memory://" (per process) or e.g. "redis://redis:6379/0" to share
    # them between gunicorn workers and hosts.
    "RATE_LIMIT_STORAGE_URI": "memory://",
    # flask-limiter strategy: "fixed-window", "moving-window" or "sliding-window-counter".
    "RATE_LIMIT_STRATEGY": "fixed-window",
    # --- security headers ---------------------------------------------------------------
    # Sent on every response. No inline scripts (the pages' JS is static/); 'wasm-unsafe-eval' lets
    # private mode compile ONNX Runtime's WebAssembly (nothing else: no eval); data: and blob:
    # images for the face crops and the upload preview; blob:/mediastream: media for the webcam;
    # inline style attributes only (the score bars' widths).
    "CONTENT_SECURITY_POLICY": ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
                                "style-src-attr 'unsafe-inline'; img-src 'self' data: blob:; "
                                "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
                                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "REFERRER_POLICY": "same-origin",
    # The camera for this site's own pages only (webcam capture); nothing else.
    "PERMISSIONS_POLICY": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    # --- private mode -----------------------------------------------------------------------
    # The page finds and embeds the face in the browser and sends only the embedding, where the
    # browser can and the networks' browser copies (`flask weights fetch`) and ONNX Runtime Web
    # (`make browser-runtime`) are installed; else it uploads the photo (docs/private-mode.md).
    "PRIVATE_MODE": True,
    # ONNX Runtime Web's threads there: 0 or 1 (one), N, or "auto" (the browser's cores, at most 4).
    # Above one, every response carries cross-origin isolation headers (COOP, COEP, CORP), which
    # browsers require for threads and which stop this site's pages embedding other sites' content.
    "PRIVATE_THREADS": 0,
    # WebGPU there where the browser offers an adapter (ONNX Runtime Web's JSEP build); else WebAssembly.
    "PRIVATE_WEBGPU": False,
    # --- metrics and logs -----------------------------------------------------------------
    # /metrics (Prometheus text format) is served when true.
    "METRICS_ENABLED": True,
    # When set, /metrics needs "Authorization: Bearer <METRICS_TOKEN>".
    "METRICS_TOKEN": "",
    # gunicorn's JSON access log lines (app/http/serving.py) carry the client address only when
    # true: the peer, or with TRUSTED_PROXIES the address those proxies forwarded. Never any photo data.
    "ACCESS_LOG_CLIENT": False,
    # --- start-up -------------------------------------------------------------------------
    # Register the operator commands (flask weights/gallery/train/evaluate ...). wsgi.py turns it
    # off: a serving process needs none of them, and training and evaluation import TensorFlow.
    "CLI_COMMANDS": True,
    # Load the networks and the gallery in create_app. wsgi.py (gunicorn) sets it, so a worker
    # is ready before its first request; elsewhere (the Flask CLI) they load on first use, so that
    # e.g. `flask weights fetch` works before any weights or gallery exist.
    "EAGER_LOAD": False,
    # With EAGER_LOAD, a start-up failure (corrupt weights or gallery: a StartupError naming the
    # file and the command that fixes it) is logged in one line and reported by /readyz (503),
    # and photo requests get 503, instead of the process failing to boot with a traceback.
    # wsgi.py sets it; elsewhere create_app raises the StartupError.
    "REPORT_STARTUP_ERRORS": False,
    # --- files and folders ----------------------------------------------------------------
    # The instance folder (per-deployment files: config.py, weights, datasets, galleries, models,
    # calibration, API keys). None: <repository>/instance. It is chosen before instance/config.py
    # is read, so only LOOKSLIKE_INSTANCE_PATH or the factory's overrides set it.
    "INSTANCE_PATH": None,
    # FaceNet's weights file; the converted ONNX networks live beside it.
    # None: <instance>/weights/facenet_keras.weights.h5.
    "WEIGHTS_PATH": None,
    # Downloaded photo datasets (demo photos, LFW). None: <instance>/datasets.
    "DATASETS_DIR": None,
    # One folder per gallery. None: <instance>/galleries.
    "GALLERIES_DIR": None,
    # One folder per trained model (`flask train`). None: <instance>/models.
    "MODELS_DIR": None,
    # The API keys' hashes (`flask keys`). None: <instance>/api_keys.json.
    "API_KEYS_FILE": None,
    # ONNX Runtime Web's files. None: <repository>/build/npm/node_modules/onnxruntime-web/dist.
    "BROWSER_RUNTIME_DIR": None,
}

# Config keys that flask-limiter (RATELIMIT_*) and flask-cors (CORS_*) read themselves: settings too.
EXTENSION_PREFIXES = ("RATELIMIT_", "CORS_")

# LOOKSLIKE_* environment variables that are no setting: the browser tests' own switches. They are
# never copied into the configuration and never reported as unknown.
NOT_SETTINGS = {
    "LOOKSLIKE_APP_PYTHON": "tests/browser: the interpreter that serves the app under test",
    "LOOKSLIKE_TEST_SERVER": "tests/browser: the URL of a server already running, instead of starting one",
}
