#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the Studio's end-to-end test (Debian packages).
# Installs `chromium` and `chromium-driver` with apt-get when either is missing; prints
# nothing and exits 0 when both are there. Needs root (or sudo) only when it installs.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure-chromium: chromium/chromedriver missing and not root; install the" \
            "Debian packages 'chromium' and 'chromium-driver'" >&2
        exit 1
    fi
fi

echo "ensure-chromium: installing chromium and chromium-driver with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null

if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    echo "ensure-chromium: installed, but $CHROMIUM or $CHROMEDRIVER is still missing" >&2
    exit 1
fi
