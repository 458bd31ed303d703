#!/usr/bin/env bash
# Debian's chromium for the browser tests (test/web/), installed only when
# missing. playwright-core drives it and downloads no browser of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo ".ci/chromium.sh: /usr/bin/chromium is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
