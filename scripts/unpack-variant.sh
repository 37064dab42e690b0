#!/usr/bin/env bash
# Unpack one variant of scripts/build-variants.sh (.carry/variants/NAME/*.xz) into DIR: its
# libflashcore.so.0.1 and flashcore-scale, with python's lzma (no xz binary needed on the
# device machine). Used by scripts/variant-bench.sh and scripts/scale-ab.sh.
#   scripts/unpack-variant.sh NAME DIR
set -euo pipefail
name=$1 dir=$2
mkdir -p "$dir"
for f in libflashcore.so.0.1 flashcore-scale; do
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    ".carry/variants/$name/$f.xz" "$dir/$f"
done
chmod +x "$dir/flashcore-scale"
