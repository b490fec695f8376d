#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the browser test of the service drives it headless.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "defectlab: the browser test needs Debian's chromium: run 'apt-get install chromium' as root" >&2
  exit 1
fi
echo "defectlab: installing Debian's chromium for the browser test (one time)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
