# orbox: `make run` starts the box with its demo configuration, `make test` runs every test.
# Both install what is missing first (Debian packages via apt-get, npm packages via npm ci).

SHELL := /bin/bash
export npm_config_loglevel := error
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# System parts the box and its tests use (see README: Dependencies).
DEB_PACKAGES := \
  chromium gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-alsa \
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config \
  mosquitto mosquitto-clients openssl device-tree-compiler rauc squashfs-tools dbus \
  bmap-tools socat ffmpeg sqlite3 python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 onvif-tools \
  fdisk e2tools mtools dosfstools cpp valgrind

.PHONY: all setup deps-deb deps-npm build run test bench bench-long layers status clean ota-ca bundle ota-lab overlays arm64

all: build

setup: deps-deb deps-npm

# A package counts as present only in this machine's architecture (or arch-independent): an
# arm64 -dev package installed for `make arm64` does not stand in for the native one.
deps-deb:
	@arch=$$(dpkg --print-architecture); \
	missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status} $${Architecture}\n' $$p 2>/dev/null | grep -qE "install ok installed ($$arch|all)$$" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# npm ci when node_modules is missing, older than the lockfile, or older than a patch in
# patches/ (its postinstall applies them: a checkout that gained a patch must not run unpatched).
deps-npm: deps-deb
	@if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || \
	  [ -n "$$(find patches -newer node_modules/.package-lock.json -print -quit)" ]; then \
	  npm ci --no-audit --no-fund; \
	fi

build: deps-npm
	@npx tsc -p tsconfig.json

run: build
	MALLOC_ARENA_MAX=2 node bin/orbox.js run $(if $(CONFIG),--config $(CONFIG))

status: build
	node bin/orbox.js status

test: build
	node dist/test-rig/run-tests.js $(TESTS)

# Every folder of edge/ and gst-pipelines/ has a layer; imports only run downward (README: Layout).
layers: build
	node dist/test-rig/layers/check.js

bench: build
	node dist/test-rig/bench/run-bench.js $(BENCH)

# The 10-minute points (uplink loss) and the 1-hour soak (4 viewers + one joining/leaving every
# 10 s: RSS and fd growth): ORBOX_BENCH_LONG=1 lengthens the benches that have them.
bench-long: build
	ORBOX_BENCH_LONG=1 node dist/test-rig/bench/run-bench.js $(or $(BENCH),uplink soak)

# OTA (issue 22). Signing CAs (dev and release, apart from the fleet PKI) in $(OTA_KEYS);
# `make bundle VERSION=1.2.0 [ROOTFS=dir|img] [CA=dev|release]` signs a RAUC bundle (plain format);
# `make ota-lab` runs every OTA scenario on real RAUC + mosquitto (needs root).
OTA_KEYS ?= .ota-keys
VERSION ?= 0.0.1
COMPATIBLE ?= orbox-x86-lab
CA ?= dev
ota-ca: build
	node dist/ota/signing.js $(OTA_KEYS) $(CA)

bundle: ota-ca
	node dist/ota/bundle.js --version $(VERSION) --compatible $(COMPATIBLE) $(if $(ROOTFS),--rootfs $(ROOTFS),--test-rootfs) \
	  --cert $(OTA_KEYS)/$(CA)/signing.pem --key $(OTA_KEYS)/$(CA)/signing.key --out orbox-$(VERSION).raucb

ota-lab: build
	node dist/test-rig/ota/ota-lab.js $(if $(QUICK),--quick)

# Device-tree overlays -> build/device-tree/*.dtbo (device-tree/README.md); the first run fetches
# Debian's linux-source-6.12 for the dt-bindings headers (cached in ~/.cache/orbox/kernel).
overlays: deps-deb
	device-tree/build.sh build/device-tree

# The native addons cross-built for arm64 in build/arm64 and loaded by an arm64 Node under
# qemu-user (provision/arm64/build.sh lists the multiarch packages it needs). Not part of make test.
arm64: build
	provision/arm64/build.sh build/arm64

clean:
	rm -rf dist
