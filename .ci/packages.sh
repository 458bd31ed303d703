#!/usr/bin/env bash
# Every Debian package the tests need, installed in one apt-get run: the
# package lists are fetched once, not once per script. The scripts that
# start or check each component (slurm.sh, chromium.sh, openssl.sh,
# terminal-tools.sh) then find them present. python3 is what a unit test
# compares canonical number text with (json.dumps).
set -euo pipefail

missing=()
need() { # need <command> <package>
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need slurmctld slurm-wlm
need munged munge
need chromium chromium
need openssl openssl
need script bsdutils
need taskset util-linux
need setpriv util-linux
need python3 python3

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo ".ci/packages.sh: missing ${missing[*]}, and installing needs root" >&2
  exit 1
fi
mapfile -t unique < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing ${unique[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${unique[@]}" >/dev/null
