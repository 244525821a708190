#!/usr/bin/env bash
# The browser tests drive Debian's Chromium. Install it when missing and we may (root, apt).
set -u
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: browser tests will be skipped (or fail on CI)"
else
  echo "chromium is missing: browser tests will be skipped (or fail on CI); apt-get install chromium"
fi
exit 0
