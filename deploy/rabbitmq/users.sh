#!/bin/sh
# Creates (or updates) the farm's two broker users through RabbitMQ's
# management API, with the permissions of permissions.sh beside this file:
# meshfarm-submit and meshfarm-worker. Run by the Job in
# deploy/k8s/broker-users.yaml after the broker starts; idempotent.
#
#   MANAGEMENT_URL    http://ADMIN:PASS@HOST:15672/ (the broker's admin user)
#   SUBMIT_PASSWORD   password of meshfarm-submit
#   WORKER_PASSWORD   password of meshfarm-worker
set -eu
here="$(dirname "$0")"
. "$here/permissions.sh"
api="${MANAGEMENT_URL%/}/api"
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
put() {
  curl -fsS -X PUT -H 'content-type: application/json' --data "$2" "$api/$1" >/dev/null
}
until curl -fsS "$api/overview" >/dev/null; do echo "waiting for the broker's management API"; sleep 5; done
put users/meshfarm-submit "{\"password\":\"$(json "$SUBMIT_PASSWORD")\",\"tags\":\"\"}"
put users/meshfarm-worker "{\"password\":\"$(json "$WORKER_PASSWORD")\",\"tags\":\"\"}"
put permissions/%2F/meshfarm-submit \
  "{\"configure\":\"$(json "$SUBMIT_CONFIGURE")\",\"write\":\"$(json "$SUBMIT_WRITE")\",\"read\":\"$(json "$SUBMIT_READ")\"}"
put permissions/%2F/meshfarm-worker \
  "{\"configure\":\"$(json "$WORKER_CONFIGURE")\",\"write\":\"$(json "$WORKER_WRITE")\",\"read\":\"$(json "$WORKER_READ")\"}"
echo "broker users meshfarm-submit and meshfarm-worker are set"
