#!/usr/bin/env bash
# Builds the static scaler binary and installs it, with one symlink per command, into
# ${PREFIX:-/usr/local}/bin.
#
# Debian packages the build needs are installed only when missing (apt-get update runs only
# then); Go >= 1.26 must already be installed. Running it again changes nothing: packages are
# left alone, and the binary and symlinks are only written when they differ.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

PREFIX="${PREFIX:-/usr/local}"
REQUIRED_PACKAGES=(libzmq3-dev pkg-config g++) # libzmq.a (+ its static deps), gcc/g++ and libstdc++.a
OPTIONAL_PACKAGES=(capnproto)                  # only for `make generate`
GO_MIN_MINOR=26                                # go.mod says go 1.26.0

say() { printf 'install.sh: %s\n' "$*"; }
die() {
	printf 'install.sh: error: %s\n' "$*" >&2
	exit 1
}

# as_root runs a command as root: directly when we are root, else through sudo.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run '$*' and sudo is not installed; run this script as root"
	fi
}

is_installed() {
	dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

install_packages() {
	if ! command -v dpkg >/dev/null; then
		say "not a Debian-based system: make sure libzmq (with its static library), pkg-config, g++ and optionally capnproto are installed"
		return
	fi
	local missing=() optional=() p
	for p in "${REQUIRED_PACKAGES[@]}"; do
		is_installed "$p" || missing+=("$p")
	done
	for p in "${OPTIONAL_PACKAGES[@]}"; do
		is_installed "$p" || optional+=("$p")
	done
	if ((${#missing[@]} + ${#optional[@]} == 0)); then
		say "packages present: ${REQUIRED_PACKAGES[*]} ${OPTIONAL_PACKAGES[*]}"
		return
	fi
	say "installing: ${missing[*]} ${optional[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	if ((${#missing[@]} > 0)); then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
			die "could not install ${missing[*]}"
	fi
	if ((${#optional[@]} > 0)); then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${optional[@]}" ||
			say "warning: could not install ${optional[*]}; only 'make generate' needs it"
	fi
}

find_go() {
	local go
	go=$(command -v go || true)
	if [[ -z $go && -x /usr/local/go/bin/go ]]; then
		go=/usr/local/go/bin/go
	fi
	[[ -n $go ]] || die "Go is not installed (need Go 1.${GO_MIN_MINOR} or newer): see https://go.dev/doc/install"
	# GOTOOLCHAIN=local: report the Go that is installed, not one it would download.
	local version
	version=$(GOTOOLCHAIN=local "$go" env GOVERSION 2>/dev/null) || die "$go does not run"
	if [[ ! $version =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < GO_MIN_MINOR)); then
		die "$go is $version; Go 1.${GO_MIN_MINOR} or newer is needed: see https://go.dev/doc/install"
	fi
	say "using $go ($version)"
	GO=$go
}

# install_file copies src to dst unless dst already has the same content.
install_file() {
	local src=$1 dst=$2
	if [[ -f $dst ]] && cmp -s "$src" "$dst"; then
		say "$dst is up to date"
		return
	fi
	$SUDO_IF_NEEDED install -m 0755 "$src" "$dst"
	say "installed $dst"
}

# install_link makes dst a symlink to the file name target (relative, same directory).
install_link() {
	local target=$1 dst=$2
	if [[ -L $dst && $(readlink "$dst") == "$target" ]]; then
		return
	fi
	[[ ! -e $dst || -L $dst ]] || die "$dst exists and is not a symlink; not replacing it"
	$SUDO_IF_NEEDED ln -sfn "$target" "$dst"
	say "linked $dst -> $target"
}

install_packages
find_go
make build GO="$GO"

bindir="$PREFIX/bin"
SUDO_IF_NEEDED=
if ! { [[ -d $bindir && -w $bindir ]] || { [[ ! -e $bindir ]] && [[ -w $(dirname "$bindir") ]]; }; }; then
	SUDO_IF_NEEDED=as_root
fi
[[ -d $bindir ]] || $SUDO_IF_NEEDED mkdir -p "$bindir"
install_file bin/scaler "$bindir/scaler"
# Every symlink `make build` made in bin/ is a command name of the multicall binary.
for link in bin/*; do
	if [[ -L $link && $(readlink "$link") == scaler ]]; then
		install_link scaler "$bindir/$(basename "$link")"
	fi
done
say "done: $bindir/scaler and its commands"
