#!/usr/bin/env bash
# ReefDB's test command: what CI runs (.ci/run) and what a developer runs on a fresh machine.
# Installs what the suite needs, then runs every crate's unit and integration tests in the
# dev profile (one build, shared by all test binaries).
#
# Long soaks stay out of the default run; raise them by hand, for example
#   REEF_MODEL_CASES=5000 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (https://rustup.rs); this machine image ships it" >&2
    exit 1
fi

# Real MySQL clients for the protocol and integration tests: the mysql CLI (Debian's
# mariadb-client), PyMySQL and mysql-connector-python.
if ! command -v mysql >/dev/null 2>&1; then
    echo "== installing mariadb-client"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-client >/dev/null
fi
if ! python3 -c "import pymysql, mysql.connector" >/dev/null 2>&1; then
    echo "== installing PyMySQL and mysql-connector-python"
    python3 -m pip install -q --disable-pip-version-check pymysql mysql-connector-python
fi

echo "== cargo $(cargo --version | cut -d' ' -f2), $(nproc) cores"
cargo test --workspace --locked --no-fail-fast
