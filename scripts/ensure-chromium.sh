#!/usr/bin/env bash
# Make Debian's chromium available for the report's headless-browser test.
# Idempotent and never fatal: when chromium is present it does nothing; when it is
# missing and we are root with apt-get, it installs it; otherwise it says why and
# exits 0, and the browser test skips itself.
set -u

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "${SCVAE_SKIP_CHROMIUM_INSTALL:-}" = "1" ]; then
    echo "ensure-chromium: SCVAE_SKIP_CHROMIUM_INSTALL=1; the browser test will be skipped." >&2
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is missing and cannot be installed here" \
        "(needs root and apt-get); the browser test will be skipped." >&2
    exit 0
fi
echo "ensure-chromium: installing chromium with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
    # The package lists may be missing on a fresh machine: refresh them once and retry.
    if ! { apt-get update -q >/dev/null 2>&1 &&
        apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; then
        echo "ensure-chromium: apt-get could not install chromium; the browser test will be skipped." >&2
    fi
fi
exit 0
