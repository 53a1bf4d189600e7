#!/usr/bin/env bash
# Install the system programs backup_system drives, when missing.
# Usage: install_system_tools.sh PACKAGE:COMMAND ...   (e.g. rsync:rsync samba:smbd); none: nothing to do.
# `make setup` passes what the config's enabled destinations need (python -m backup_system.config --tools).
# As root with apt-get: installs what is missing. Otherwise: one line saying what to install.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for pair in "$@"; do
  package=${pair%%:*}; command=${pair#*:}
  command -v "$command" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "backup_system needs these system packages: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
