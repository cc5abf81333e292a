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
set -euo pipefail

readonly APP_PORT=8000
readonly ENV_FILE=/etc/lookslike/app.env
readonly READY_TIMEOUT_S=600

log() { echo "lookslike-user-data: $*"; }

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

write_env_file() {
    # Read by `docker run --env-file` (one NAME=value a line, taken literally); only root reads it:
    # the Redis URL may carry a password.
    install -d -m 700 "$(dirname "$ENV_FILE")"
    (
        umask 077
        cat >"$ENV_FILE" <<EOF
GUNICORN_BIND=0.0.0.0:$APP_PORT
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

start_container() {
    local instance_id
    instance_id=$(imds instance-id)
    docker rm -f lookslike >/dev/null 2>&1 || true
    # Galleries in a volume: a gallery fetched from GALLERY_URL survives a container restart.
    docker run --detach --name lookslike --restart unless-stopped \
        --publish "$APP_PORT:$APP_PORT" \
        --env-file "$ENV_FILE" \
        --volume lookslike-galleries:/srv/lookslike/instance/galleries \
        --log-driver awslogs \
        --log-opt awslogs-region="$AWS_REGION" \
        --log-opt awslogs-group="$LOG_GROUP" \
        --log-opt awslogs-stream="$instance_id" \
        "$IMAGE"
}

wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$APP_PORT/readyz"; do
        if ((SECONDS >= deadline)); then
            log "/readyz not ready after ${READY_TIMEOUT_S}s; last lines of the container:"
            docker logs --tail 30 lookslike 2>&1 || true
            return 1
        fi
        sleep 5
    done
    log "ready after ${SECONDS}s"
}

signal() {  # signal 0|1: report success or failure to CloudFormation
    if [[ -n ${STACK_NAME:-} ]]; then
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
    : "${IMAGE:?}" "${GALLERY_URL?}" "${GALLERY_SHA256?}" "${RATE_LIMIT_STORAGE_URI:?}" "${RATE_LIMIT:?}" \
        "${PUBLIC_URL?}" "${WEB_CONCURRENCY:?}" "${LOG_GROUP:?}" "${AWS_REGION:?}"
    trap on_exit EXIT
    install_docker
    pull_image
    write_env_file
    start_container
    wait_ready
    signal 0
}

main "$@"
