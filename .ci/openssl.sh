#!/usr/bin/env bash
# openssl makes the self-signed certificate of the TLS test of `serve`
# (test/server/serve-options.test.ts); Debian images usually have it.
set -euo pipefail
if command -v openssl >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
else
  sudo apt-get update -qq && sudo apt-get install -y -qq openssl >/dev/null
fi
