#!/usr/bin/env bash
# Build the CUDA-enabled `statecast` binary on a machine with no GPU, no CUDA toolkit and no
# internet, then strip and compress it for transfer (see shared/design/stack.md §3.3–3.4).
#
# burn-cuda → cubecl-llvm needs a static LLVM at build time; its bundler normally downloads
# one. Offline, we install the pinned `mlc-llvm-static` wheels from PyPI (an LLVM 23.1.1 static
# SDK) and point the bundler's cache directory at them.
#
# Usage: scripts/build-gpu.sh [OUT_DIR]   (default: dist/gpu) → OUT_DIR/statecast.xz
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-dist/gpu}
LLVM_VERSION=23.1.1.post0          # pin; re-check whenever cubecl moves to a new bundler
BUNDLER_DIR=tracel-llvm-23.1.0-4   # what tracel-llvm-bundler 23.1.0-4 looks for
PREFIX=${STATECAST_LLVM_PREFIX:-$HOME/.cache/statecast/llvm}
XDG=${STATECAST_LLVM_XDG:-$HOME/.cache/statecast/xdg}

if [ ! -x "$PREFIX/mlc_llvm_static/static/bin/llvm-config" ] && [ ! -e "$PREFIX/mlc_llvm_static/static/bin/llvm-config" ]; then
  echo "== installing LLVM SDK wheels (mlc-llvm-static $LLVM_VERSION) into $PREFIX"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" \
    "mlc-llvm-static==$LLVM_VERSION" "mlc-llvm-static-extra-targets==$LLVM_VERSION"
  python3 -m pip install --quiet --no-deps --upgrade --target "$PREFIX" "$tmp"/*.whl
  rm -rf "$tmp"
fi
mkdir -p "$XDG/tracel"
[ -L "$XDG/tracel/$BUNDLER_DIR" ] || ln -sfn "$PREFIX/mlc_llvm_static/static" "$XDG/tracel/$BUNDLER_DIR"
# Create the marker once: the bundler's build script watches it, and a fresh mtime would
# rebuild cubecl-llvm and everything above it (~25 min here).
[ -e "$XDG/tracel/$BUNDLER_DIR/.tracel-llvm-installed" ] || touch "$XDG/tracel/$BUNDLER_DIR/.tracel-llvm-installed"

echo "== cargo build --release --features gpu"
export XDG_DATA_HOME="$XDG"
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}   # the H200 machines run CUDA 13.0
cargo build --locked --release -p statecast-service --features gpu --bin statecast

mkdir -p "$OUT_DIR"
bin=${CARGO_TARGET_DIR:-target}/release/statecast
strip "$bin" 2>/dev/null || true
xz -6 -T0 -c "$bin" > "$OUT_DIR/statecast.xz"
ls -l "$bin" "$OUT_DIR/statecast.xz"
echo "== done: $OUT_DIR/statecast.xz (on the GPU host: xz -dc statecast.xz > statecast && chmod +x statecast && ./statecast devices --check cuda)"
