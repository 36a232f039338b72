#!/usr/bin/env bash
# Debian packages the project needs at run and test time. Installs only what is missing.
#   espeak-ng, sox: prompt synthesis (hotline prompts render) and audio checks
#   mmdebstrap, zstd: building the sandboxed Asterisk root (hotline pbx start)
#   chromium, fonts-wqy-microhei: real-browser tests of the Chinese console
#   kannel, kannel-extras: the SMS gateway (bearerbox, smsbox) and its simulated SMSC
#     (fakesmsc), started by `hotline sms start` with its own configuration (docs/sms.md);
#     the package's own service (/etc/kannel/kannel.conf, ports 13000-13013) is not used
set -euo pipefail
packages=(espeak-ng sox mmdebstrap zstd chromium fonts-wqy-microhei kannel kannel-extras)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${missing[*]}; install them with your package manager (needs root + apt)." >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
