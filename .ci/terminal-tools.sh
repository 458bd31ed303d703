#!/usr/bin/env bash
# The terminal tests (test/cli/progress.test.ts) give the CLI a
# pseudo-terminal with script(1) from util-linux; make sure it is there.
set -euo pipefail
if command -v script >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # script is in bsdutils on Debian and Ubuntu, in util-linux elsewhere.
  $sudo apt-get install -y -qq bsdutils || $sudo apt-get install -y -qq util-linux
fi
command -v script >/dev/null 2>&1 || { echo "script (util-linux) could not be installed"; exit 1; }
