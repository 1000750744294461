#!/usr/bin/env bash
# Run a command in a new network namespace that has nothing but a loopback interface.
#
#   tests/e2e/netns.sh COMMAND [ARG]...
#   tests/e2e/netns.sh .venv/bin/pytest tests/e2e -q
#
# The e2e suite runs in here: Argo's workflow-controller listens on :6060 on every interface,
# and for a container without `command` it asks the image registry for the entrypoint. Inside,
# nothing outside can reach the control plane and nothing in it can reach out.
set -euo pipefail

die() { printf '[netns] ERROR: %s\n' "$*" >&2; exit 2; }

[ $# -gt 0 ] || die "usage: $0 COMMAND [ARG]..."

if [ "${_ARGO_ADMISSION_NETNS_CHILD:-}" != 1 ]; then
  command -v unshare >/dev/null || die "unshare (util-linux) is not installed"
  flags=(--net)
  # Unprivileged users get the capability to configure the new namespace from a user namespace.
  [ "$(id -u)" = 0 ] || flags+=(--user --map-root-user)
  # unshare reports its own failure (e.g. no permission to create namespaces) and exits non-zero.
  _ARGO_ADMISSION_NETNS_CHILD=1 exec unshare "${flags[@]}" -- "$0" "$@"
fi
unset _ARGO_ADMISSION_NETNS_CHILD

command -v ip >/dev/null || die "ip (iproute2) is not installed"
ip link set lo up
exec "$@"
