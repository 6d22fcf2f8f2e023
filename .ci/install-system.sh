#!/usr/bin/env bash
# Installs the Debian packages listed in the given file that are missing (idempotent, fast when all are
# there). Tests that need one of them skip with a reason when it cannot be installed (not root, no apt).
set -euo pipefail
list="${1:-.ci/system-packages.txt}"
missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: missing Debian packages (${missing[*]}); install them with: sudo apt-get install ${missing[*]}" >&2
fi
