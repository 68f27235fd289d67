#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing (apt-get update runs only
# then), as root or through sudo.
#
#   scripts/deps.sh build   libzmq (static library and its dependencies), pkg-config, g++
#   scripts/deps.sh test    build packages plus what the tests use: Debian's python3 with
#                           zmq, cloudpickle and tblib (interop and Python tasks), tmux
#                           (terminal dashboard test) and chromium (browser tests)
#   scripts/deps.sh dev     build packages plus capnproto (for make generate)
#
# On a system without dpkg it only says what to install.
set -euo pipefail

BUILD=(libzmq3-dev pkg-config g++ make)
TEST=(python3 python3-zmq python3-cloudpickle python3-tblib tmux chromium procps file)
DEV=(capnproto)

say() { printf 'deps: %s\n' "$*"; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		printf 'deps: need root to run %s and sudo is not installed\n' "$*" >&2
		exit 1
	fi
}

is_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'; }

want=("${BUILD[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${TEST[@]}") ;;
dev) want+=("${DEV[@]}") ;;
*)
	echo "usage: $0 build|test|dev" >&2
	exit 2
	;;
esac

if ! command -v dpkg >/dev/null; then
	say "not a Debian-based system; install the equivalents of: ${want[*]}"
	exit 0
fi
missing=()
for p in "${want[@]}"; do
	is_installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
say "installing ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
say "installed ${missing[*]}"
