#!/usr/bin/env bash
# The test command: a virtual environment with the pinned requirements, a real
# Apache Kafka on free ports of 127.0.0.1 (kafka/local), the whole pytest suite
# (fast tests first, then the slow ones), and Kafka stopped whatever happened.
#
#   ./test.sh                 everything
#   ./test.sh tests/recorder  pytest arguments pick a part (one pytest run)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

fail() {
  echo "test.sh: $*" >&2
  exit 1
}

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || fail "$python not found (Python 3.10 or newer is needed)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  fail "Python 3.10 or newer is needed ($python is $("$python" --version 2>&1))"

# 1. the virtual environment, reinstalled only when a requirements file changes
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || fail "cannot create .venv with $python (is python3-venv installed?)"
fi
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "test.sh: installing requirements.txt and requirements-dev.txt into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    -r requirements.txt -r requirements-dev.txt || fail "pip install failed (see above)"
  rm -f .venv/.installed-* && touch "$stamp"
fi

# 2. a real Kafka on free ports, so a compose stack on 9092 never collides
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
KAFKA_PORT="$(free_port)"
ZOOKEEPER_PORT="$(free_port)"
KAFKA_LOCAL_DIR="$(mktemp -d "${TMPDIR:-/tmp}/test-kafka.XXXXXX")"
export KAFKA_PORT ZOOKEEPER_PORT KAFKA_LOCAL_DIR
trap 'kafka/local stop >/dev/null 2>&1; rm -rf "$KAFKA_LOCAL_DIR"' EXIT
kafka/local fetch || exit 1
started=$(date +%s%N)
KAFKA_BOOTSTRAP_SERVERS="$(kafka/local start | tail -n 1)"
[ -n "$KAFKA_BOOTSTRAP_SERVERS" ] || exit 1
export KAFKA_BOOTSTRAP_SERVERS
echo "test.sh: Kafka started in $(((($(date +%s%N) - started) / 1000000)))ms" \
  "at $KAFKA_BOOTSTRAP_SERVERS" >&2

# 3. the suite
if [ $# -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  exit $?
fi
.venv/bin/python -m pytest -m "not slow" || exit $?
.venv/bin/python -m pytest -m slow
status=$?
# exit code 5 means the slow stage found no test: not a failure of the suite
[ "$status" -eq 5 ] && status=0
exit $status
