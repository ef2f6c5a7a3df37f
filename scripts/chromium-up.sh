#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (the WebTransport
# tests and the Playwright suite drive it; no browser is ever downloaded). Installs it from
# Debian's packages when missing (needs root). Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[chromium-up] /usr/bin/chromium is missing: run 'sudo apt-get install -y chromium'" >&2
  exit 1
fi
echo "[chromium-up] installing chromium from Debian's packages" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
