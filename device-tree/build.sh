#!/bin/bash
# Builds the overlays (device-tree/*.dts -> build/device-tree/*.dtbo, dtc -@) and, with --bases,
# the base trees they are checked against, with symbols (dtc -@), from the Debian kernel source
# package (linux-source-6.12: it has the RK3588 boards bookworm's 6.1 lacks). The source package
# is fetched with `apt-get download` once and cached in $ORBOX_KERNEL_CACHE
# (default ~/.cache/orbox/kernel); only the device-tree folders are unpacked from it.
#
# Usage: device-tree/build.sh [--bases] [OUTDIR]     (OUTDIR default build/device-tree)
# Exit status non-zero on the first failure, naming the file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bases=0
if [ "${1:-}" = --bases ]; then bases=1; shift; fi
out=${1:-build/device-tree}
cache=${ORBOX_KERNEL_CACHE:-$HOME/.cache/orbox/kernel}
kpkg=linux-source-6.12
ksrc=$cache/$kpkg

# Base boards: overlay -> the board's tree in the kernel's arch/arm64/boot/dts.
declare -A BASE=(
  [rk3588-rock-5b-orbox]=rockchip/rk3588-rock-5b
  [rpi-cm4-tc358743]=broadcom/bcm2711-rpi-cm4-io
  [imx8mp-evk-orbox]=freescale/imx8mp-evk
)

fetch_kernel() {
  [ -f "$ksrc/include/uapi/linux/input-event-codes.h" ] && return 0
  mkdir -p "$cache"
  ( cd "$cache" && ls ${kpkg}_*.deb >/dev/null 2>&1 || apt-get download -q $kpkg >&2 ) \
    || { echo "device-tree: cannot fetch $kpkg (apt-get download); the bases and the dt-bindings headers come from it" >&2; exit 1; }
  deb=$(ls "$cache"/${kpkg}_*.deb | head -1)
  echo "device-tree: unpacking the device-tree sources of $(basename "$deb")" >&2
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/$kpkg.tar.xz | tar -xJ -C "$cache" --wildcards \
    "$kpkg/arch/arm64/boot/dts/rockchip/*" "$kpkg/arch/arm64/boot/dts/freescale/*" \
    "$kpkg/arch/arm64/boot/dts/broadcom/*" "$kpkg/arch/arm/boot/dts/broadcom/*" \
    "$kpkg/include/dt-bindings/*" "$kpkg/include/uapi/linux/input-event-codes.h" "$kpkg/scripts/dtc/include-prefixes/*"
}

# cpp as the kernel's Makefile.lib runs it for .dts, then dtc with symbols.
compile() { # src out dir-of-src-for-includes
  local src=$1 dst=$2 dir=$3
  cpp -nostdinc -I "$dir" -I "$ksrc/scripts/dtc/include-prefixes" -I "$ksrc/include" -I "$ksrc/arch/arm64/boot/dts/freescale" \
    -undef -D__DTS__ -x assembler-with-cpp -P "$src" > "$dst.pp"
  dtc -@ -q -I dts -O dtb -o "$dst" "$dst.pp" || { echo "device-tree: dtc failed on $src" >&2; exit 1; }
  rm -f "$dst.pp"
}

fetch_kernel
mkdir -p "$out"
for dts in "$here"/*.dts; do
  name=$(basename "$dts" .dts)
  compile "$dts" "$out/$name.dtbo" "$here"
  echo "$out/$name.dtbo"
  if [ $bases = 1 ]; then
    b=${BASE[$name]:?no base board listed for $name in device-tree/build.sh}
    mkdir -p "$out/base"
    compile "$ksrc/arch/arm64/boot/dts/$b.dts" "$out/base/$(basename "$b").dtb" "$ksrc/arch/arm64/boot/dts/$(dirname "$b")"
    echo "$out/base/$(basename "$b").dtb"
  fi
done
