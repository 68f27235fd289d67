#!/usr/bin/env bash
# Builds the static scaler binary and installs it, with one symlink per command, into
# ${PREFIX:-/usr/local}/bin.
#
# Debian packages the build needs are installed only when missing (scripts/deps.sh); Go >=
# 1.26 must already be installed. Running it again changes nothing: packages are
# left alone, and the binary and symlinks are only written when they differ.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

PREFIX="${PREFIX:-/usr/local}"
GO_MIN_MINOR=26 # go.mod says go 1.26.0

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

scripts/deps.sh build
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
