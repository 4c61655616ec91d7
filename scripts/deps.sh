#!/bin/sh
# Installs every Debian package ferry needs to build, test and benchmark.
# Idempotent: asks apt only for what is missing, runs `apt-get update` at most
# once, and does nothing at all when everything is present.
set -eu

PACKAGES="
build-essential
pkg-config
clang
libclang-rt-14-dev
libmbedtls-dev
libcmocka-dev
libjansson-dev
libmicrohttpd-dev
libgnutls28-dev
libcurl4-openssl-dev
libsqlite3-dev
libpq-dev
postgresql
libp11-kit-dev
softhsm2
openssl
curl
sqlite3
stress-ng
python3
chromium
gcc-arm-none-eabi
libnewlib-arm-none-eabi
qemu-system-arm
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# The oracle tests need Node.js and npm. Machines may carry a Node.js from
# elsewhere (with its own npm); only when neither command exists do we ask
# Debian for both.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing (run scripts/deps.sh as root)" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends $missing; then
    apt-get update
    apt-get install -y --no-install-recommends $missing
fi
