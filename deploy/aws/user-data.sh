#!/bin/bash
# EC2 user data of deploy/aws/lookslike.yaml (Amazon Linux 2023): install Docker, pull the LooksLike
# image, start it on port 8000 with the stack's settings and its logs in CloudWatch, wait for /readyz,
# then tell CloudFormation (cfn-signal) whether the instance came up, so a stack create or a rolling
# update stops on an instance that does not.
#
# The template embeds this file after a block of `export NAME='value'` lines made from its parameters
# (deploy/aws/render.py writes it in; `make lint-deploy` checks it is current). By hand, on an
# instance: export the variables below, then run it as root.
#
#   IMAGE                   image to run, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/lookslike:1.4
#                           (an ECR image is pulled with the instance role's credentials)
#   GALLERY_URL             gallery artifact the server fetches and verifies before it is ready
#   GALLERY_SHA256          its sha256 (hex); both may be empty: the image's demo gallery
#   RATE_LIMIT_STORAGE_URI  shared rate-limit counters, e.g. rediss://host:6379/0
#   RATE_LIMIT              e.g. 60/minute, per client address across the fleet
#   PUBLIC_URL              e.g. https://lookslike.example (may be empty)
#   WEB_CONCURRENCY         gunicorn workers per instance
#   LOG_GROUP               CloudWatch Logs group of the container's output
#   AWS_REGION              region of the log group and of the stack
#   STACK_NAME, SIGNAL_RESOURCE  stack and logical id cfn-signal reports to (empty: no signal)
#
# Two parts: set-up (install Docker, pull the image; AWS only) and start-up (write the settings, start
# the container, wait until /readyz answers 200, or stop at once when it says start-up failed, e.g. a
# gallery artifact whose sha256 is not GALLERY_SHA256). `user-data.sh --start-only` runs the start-up
# part alone, with the image already there and without LOG_GROUP, AWS_REGION or cfn-signal (no
# CloudWatch logs unless LOG_GROUP is set). `make docker-check` runs it that way, with these switches:
#
#   CONTAINER_RUNNER  docker (the default), or buildah: the image run with `buildah run --isolation
#                     chroot` on the host's network, where there is no Docker daemon; RUN_DIR then
#                     holds the container's id (container), its process group's id (pid) and its
#                     output (server.log)
#   APP_PORT=8000  BIND_HOST=0.0.0.0  ENV_FILE=/etc/lookslike/app.env  READY_TIMEOUT_S=600
#   RUN_DIR=/run/lookslike
set -euo pipefail

APP_PORT=${APP_PORT:-8000}
BIND_HOST=${BIND_HOST:-0.0.0.0}
ENV_FILE=${ENV_FILE:-/etc/lookslike/app.env}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-600}
CONTAINER_RUNNER=${CONTAINER_RUNNER:-docker}
RUN_DIR=${RUN_DIR:-/run/lookslike}
START_ONLY=0

log() { echo "lookslike-user-data: $*"; }

since() {  # since EPOCHREALTIME: seconds from then to now, to a tenth
    local tenths=$(((${EPOCHREALTIME/[.,]/} - ${1/[.,]/}) / 100000))
    echo "$((tenths / 10)).$((tenths % 10))"
}

imds() {  # imds PATH: a value from the instance metadata service (IMDSv2)
    local token
    token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)
    curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

install_docker() {
    if ! command -v docker >/dev/null; then
        dnf install -y -q docker
    fi
    if [[ -n ${STACK_NAME:-} ]] && [[ ! -x /opt/aws/bin/cfn-signal ]]; then
        dnf install -y -q aws-cfn-bootstrap
    fi
    systemctl enable --now docker
}

pull_image() {
    local attempt
    if [[ $IMAGE =~ ^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/ ]]; then
        aws ecr get-login-password --region "${BASH_REMATCH[1]}" \
            | docker login --username AWS --password-stdin "${IMAGE%%/*}"
    fi
    for attempt in 1 2 3 4 5; do
        if docker pull --quiet "$IMAGE"; then
            return 0
        fi
        log "docker pull $IMAGE failed (attempt $attempt of 5)"
        sleep $((attempt * 10))
    done
    return 1
}

# ------------------------------------------------------------------------------------------------
# Start-up: the only part `--start-only` runs.

write_env_file() {
    # Read by `docker run --env-file` (one NAME=value a line, taken literally); only root reads it:
    # the Redis URL may carry a password.
    install -d -m 700 "$(dirname "$ENV_FILE")"
    (
        umask 077
        cat >"$ENV_FILE" <<EOF
GUNICORN_BIND=$BIND_HOST:$APP_PORT
WEB_CONCURRENCY=$WEB_CONCURRENCY
LOOKSLIKE_TRUSTED_PROXIES=1
LOOKSLIKE_PUBLIC_URL=$PUBLIC_URL
LOOKSLIKE_RATE_LIMIT=$RATE_LIMIT
LOOKSLIKE_RATE_LIMIT_STORAGE_URI=$RATE_LIMIT_STORAGE_URI
LOOKSLIKE_GALLERY_URL=$GALLERY_URL
LOOKSLIKE_GALLERY_SHA256=$GALLERY_SHA256
EOF
    )
}

start_with_docker() {
    local logging=()
    if [[ -n ${LOG_GROUP:-} ]]; then
        logging=(--log-driver awslogs --log-opt awslogs-region="$AWS_REGION" --log-opt awslogs-group="$LOG_GROUP"
            --log-opt awslogs-stream="$(imds instance-id)")
    fi
    docker rm -f lookslike >/dev/null 2>&1 || true
    # Galleries in a volume: a gallery fetched from GALLERY_URL survives a container restart.
    docker run --detach --name lookslike --restart unless-stopped \
        --publish "$APP_PORT:$APP_PORT" \
        --env-file "$ENV_FILE" \
        --volume lookslike-galleries:/srv/lookslike/instance/galleries \
        "${logging[@]}" \
        "$IMAGE"
}

stop_buildah_container() {  # the server a previous start left in RUN_DIR, if any
    local pid ctr
    pid=$(cat "$RUN_DIR/pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    ctr=$(cat "$RUN_DIR/container" 2>/dev/null || true)
    if [[ -n $ctr ]]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
    rm -f "$RUN_DIR/pid" "$RUN_DIR/container"
}

start_with_buildah() {
    local ctr line settings=() cmd=()
    mkdir -p "$RUN_DIR"
    stop_buildah_container
    # docker's --env-file rules: NAME=value taken literally; blank lines and # comments skipped.
    while IFS= read -r line; do
        if [[ -n $line && $line != \#* ]]; then settings+=(--env "$line"); fi
    done <"$ENV_FILE"
    mapfile -t cmd < <(buildah inspect --type image \
        --format '{{range .Docker.Config.Entrypoint}}{{println .}}{{end}}{{range .Docker.Config.Cmd}}{{println .}}{{end}}' \
        "$IMAGE")
    ((${#cmd[@]})) || { log "$IMAGE has no CMD"; return 1; }
    ctr=$(buildah from --quiet --pull-never "$IMAGE")
    echo "$ctr" >"$RUN_DIR/container"
    # buildah run takes the image's USER, WORKDIR and ENV; setsid gives the server a process group of
    # its own, which stop_buildah_container (or the caller) stops as a whole.
    setsid buildah run --isolation chroot "${settings[@]}" "$ctr" -- "${cmd[@]}" \
        </dev/null >"$RUN_DIR/server.log" 2>&1 &
    echo "$!" >"$RUN_DIR/pid"
}

start_container() {
    case $CONTAINER_RUNNER in
        docker) start_with_docker ;;
        buildah) start_with_buildah ;;
        *) log "CONTAINER_RUNNER must be docker or buildah, not '$CONTAINER_RUNNER'"; return 1 ;;
    esac
}

container_alive() {  # false once a buildah-run server has exited (docker restarts its own)
    [[ $CONTAINER_RUNNER != buildah ]] || kill -0 "$(cat "$RUN_DIR/pid")" 2>/dev/null
}

container_logs() {
    if [[ $CONTAINER_RUNNER == buildah ]]; then
        tail -n 30 "$RUN_DIR/server.log" 2>&1 || true
    else
        docker logs --tail 30 lookslike 2>&1 || true
    fi
}

wait_ready() {
    # 503 while the networks load and the gallery is fetched and verified; 503 with "status":
    # "failed" when that failed for good (the message names the URL and the reason): no point waiting.
    local started=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT_S)) answer
    while true; do
        answer=$(curl -sS --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$APP_PORT/readyz" 2>/dev/null || true)
        if [[ ${answer##*$'\n'} == 200 ]]; then
            log "ready after $(since "$started")s: ${answer%$'\n'*}"
            return 0
        fi
        if [[ $answer =~ \"status\":\ ?\"failed\" ]]; then
            log "start-up failed after $(since "$started")s: ${answer%$'\n'*}"
            container_logs
            return 1
        fi
        if ! container_alive; then
            log "the server exited before it was ready; its last lines:"
            container_logs
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "/readyz not ready after ${READY_TIMEOUT_S}s; last lines of the container:"
            container_logs
            return 1
        fi
        sleep 0.5
    done
}

start_server() {
    write_env_file
    start_container
    wait_ready
}

# ------------------------------------------------------------------------------------------------

signal() {  # signal 0|1: report success or failure to CloudFormation
    if [[ $START_ONLY == 0 && -n ${STACK_NAME:-} ]]; then
        /opt/aws/bin/cfn-signal --exit-code "$1" --stack "$STACK_NAME" --resource "$SIGNAL_RESOURCE" \
            --region "$AWS_REGION" || log "cfn-signal failed"
    fi
}

on_exit() {
    local rc=$?
    if ((rc != 0)); then
        log "failed (exit $rc)"
        signal 1
    fi
}

main() {
    if [[ ${1:-} == --start-only ]]; then
        START_ONLY=1
    elif [[ -n ${1:-} ]]; then
        log "unknown argument '$1' (the one argument taken is --start-only)"
        return 2
    fi
    : "${IMAGE:?}" "${GALLERY_URL?}" "${GALLERY_SHA256?}" "${RATE_LIMIT_STORAGE_URI:?}" "${RATE_LIMIT:?}" \
        "${PUBLIC_URL?}" "${WEB_CONCURRENCY:?}"
    trap on_exit EXIT
    if ((START_ONLY)); then
        start_server
        return
    fi
    : "${LOG_GROUP:?}" "${AWS_REGION:?}"
    install_docker
    pull_image
    start_server
    signal 0
}

main "$@"
