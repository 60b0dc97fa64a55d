# Sourced by scripts/test and scripts/pgo-build: their messages, and Debian
# packages installed when missing. The caller sets ME (its name, for the
# messages) and may set NO_INSTALL (why not to install: a missing package
# is then named, not installed).

say() { echo "$ME: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (run as root, or install it by hand)"
  fi
}

apt_updated=""
apt_install() {
  [ -n "${NO_INSTALL:-}" ] && die "$1 is missing ($NO_INSTALL)"
  command -v apt-get >/dev/null 2>&1 || die "$1 is missing and this machine has no apt-get: install $1"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $1 with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
