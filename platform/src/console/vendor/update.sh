#!/usr/bin/env bash
# Rebuilds the console's vendored chart library from the npm registry: downloads the pinned
# uPlot release, checks the tarball against the pinned SHA-256, and copies the built files and
# the licence here. Node is not needed to build or run Millwright; only this script uses npm
# (or curl when npm is absent).
#
#   platform/src/console/vendor/update.sh            # re-create the committed files
#   VERSION=1.6.33 SHA256=<new digest> ./update.sh   # move to another release (then commit)
set -euo pipefail

VERSION="${VERSION:-1.6.32}"
# SHA-256 of uplot-1.6.32.tgz as the registry serves it
# (npm integrity sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==).
SHA256="${SHA256:-4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d}"

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

tarball="uplot-${VERSION}.tgz"
if command -v npm >/dev/null 2>&1; then
    npm pack --silent "uplot@${VERSION}" >/dev/null
else
    curl -fsSLo "$tarball" "https://registry.npmjs.org/uplot/-/${tarball}"
fi
echo "${SHA256}  ${tarball}" | sha256sum -c -
tar xzf "$tarball"

cp package/dist/uPlot.iife.min.js "$here/uPlot.iife.min.js"
cp package/dist/uPlot.min.css "$here/uPlot.min.css"
cp package/LICENSE "$here/uPlot.LICENSE"
echo "uPlot ${VERSION} copied to ${here}; the console's asset version changes with it."
