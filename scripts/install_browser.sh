#!/usr/bin/env bash
# `make test-browser` runs this first: Debian's Chromium for the browser tests (tests/support/browser.py drives it
# with Playwright), installed with apt when /usr/bin/chromium is missing. Never `playwright install`: that downloads
# browser builds from outside the package registries. Needs root (or sudo) only when Chromium is missing.
set -euo pipefail
CHROMIUM=${COLORIZATION_CHROMIUM:-/usr/bin/chromium}

if [[ -x $CHROMIUM ]]; then
  exit 0
fi
if [[ $CHROMIUM != /usr/bin/chromium ]]; then
  echo "no Chromium at COLORIZATION_CHROMIUM=$CHROMIUM; install it there or unset the variable" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "installing Chromium needs root: apt-get install chromium" >&2; exit 1; }
  sudo=sudo
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
"$CHROMIUM" --version
