#!/usr/bin/env bash
# Build libflashcore at other git refs, for an A/B against each other on the device machine
# (scripts/variant-bench.sh). Each ref is built in a temporary worktree with the head dims
# of the benchmark grid only. Its library and its flashcore-scale land xz-compressed (the
# library: 6.6 MB -> 0.4 MB) in .carry/variants/NAME/ with its commit, where the device tool
# carries them (list .carry in `carry`); scripts/variant-bench.sh unpacks them there.
# HEAD_DIMS="128" builds fewer head dims (quicker) for an A/B that runs only those.
#   scripts/build-variants.sh base=main ftz=next/ex2-ftz order=next/causal-order
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 NAME=REF ..." >&2; exit 2; }
for spec in "$@"; do
  name=${spec%%=*} ref=${spec#*=}
  [ -n "$name" ] && [ "$name" != "$spec" ] || { echo "$spec: expected NAME=REF" >&2; exit 2; }
  wt=$(mktemp -d /tmp/fc-variant-XXXXXX)
  git worktree add -q --detach "$wt" "$ref"
  cmake -S "$wt" -B "$wt/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHCORE_TESTS=OFF \
    -DFLASHCORE_HEAD_DIMS="${HEAD_DIMS:-64;128;256}" > "$wt/configure.log"
  cmake --build "$wt/build" --target flashcore flashcore-scale -j "$(nproc)" > "$wt/build.log" ||
    { tail -n 30 "$wt/build.log"; exit 1; }
  rm -rf ".carry/variants/$name" && mkdir -p ".carry/variants/$name"
  xz -T0 -c "$wt/build/libflashcore.so.0.1" > ".carry/variants/$name/libflashcore.so.0.1.xz"
  xz -T0 -c "$wt/build/scaling/flashcore-scale" > ".carry/variants/$name/flashcore-scale.xz"
  git -C "$wt" rev-parse HEAD > ".carry/variants/$name/commit"
  git worktree remove --force "$wt"
  echo "$name: $(cat ".carry/variants/$name/commit") ($(du -h ".carry/variants/$name/libflashcore.so.0.1.xz" | cut -f1))"
done
