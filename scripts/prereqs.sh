#!/usr/bin/env bash
# Makes sure the system packages Sovereign's local platform and tests need are
# installed: Go, PostgreSQL's server binaries (initdb, postgres) and
# valkey-server or redis-server. As root on Debian it installs what is missing
# with apt-get; otherwise it names the exact command and fails.
set -euo pipefail

missing=()
have_pg() {
	command -v initdb >/dev/null 2>&1 && return 0
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
	return 1
}
have_kv() { command -v valkey-server >/dev/null 2>&1 || command -v redis-server >/dev/null 2>&1; }

if ! command -v go >/dev/null 2>&1; then
	echo "prereqs: Go 1.26 or newer is needed on PATH (https://go.dev/doc/install)" >&2
	exit 1
fi
have_pg || missing+=(postgresql)
if ! have_kv; then
	# Debian 13 and newer ship valkey-server; Debian 12 has redis-server 7,
	# which speaks the same protocol.
	if command -v apt-cache >/dev/null 2>&1 && apt-cache show valkey-server >/dev/null 2>&1; then
		missing+=(valkey-server)
	else
		missing+=(redis-server)
	fi
fi
# The race detector needs cgo and so a C compiler.
command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=(gcc)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "prereqs: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	$cmd
	exit 0
fi
echo "prereqs: missing ${missing[*]}; install with:" >&2
echo "  sudo apt-get update && sudo $cmd" >&2
exit 1
