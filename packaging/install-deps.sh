#!/bin/bash
# Installs what building and testing nkit needs on Debian 12 (bookworm), as
# root, and nothing that is already there. Idempotent and quiet when done.
#   packaging/install-deps.sh [--vm]   (--vm: also the VM test harness's packages)
set -euo pipefail
cd "$(dirname "$0")/.."

want=(runc crun podman systemd-container clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config
      busybox-static make g++ libc6-dev python3 util-linux kmod iputils-ping containerd nftables tcpdump)
if [ "${1:-}" = "--vm" ] && [ -f test/vm/host-packages.txt ]; then
  mapfile -t vm < <(grep -v '^\s*#' test/vm/host-packages.txt | sed '/^\s*$/d')
  want+=("${vm[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Independent readers of netkit state for the tests: iproute2 >= 6.15 and
# bpftool >= 7.5 from bookworm-backports (bookworm's own cannot print netkit).
ip_ok() { ip -V 2>/dev/null | grep -Eq 'iproute2-(6\.(1[5-9]|[2-9][0-9])|[7-9])'; }
bpftool_ok() { bpftool version 2>/dev/null | grep -Eq 'v7\.([5-9]|[1-9][0-9])'; }
need_bpo=0
ip_ok && bpftool_ok || need_bpo=1

if [ ${#missing[@]} -eq 0 ] && [ $need_bpo -eq 0 ]; then exit 0; fi

export DEBIAN_FRONTEND=noninteractive
if [ $need_bpo -eq 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/nkit-bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
echo "install-deps: installing ${missing[*]} $([ $need_bpo -eq 1 ] && echo 'iproute2/bpftool from bookworm-backports')"
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_bpo -eq 1 ]; then
  apt-get install -y -qq --no-install-recommends iproute2/bookworm-backports bpftool/bookworm-backports >/dev/null
fi
ip_ok || { echo "install-deps: iproute2 >= 6.15 still missing" >&2; exit 1; }
bpftool_ok || { echo "install-deps: bpftool >= 7.5 still missing" >&2; exit 1; }
