#!/usr/bin/env bash
# Static audit of the kernel families, no GPU needed (runs in CI):
#  - every kernel translation unit compiles with the ptxas resource report, and any spill or
#    stack frame (local memory) in a kernel fails the audit, as does a ptxas warning that it
#    serialised wgmmas (C75xx: every product waits for the one before);
#  - the PTX holds the instructions the family is built on (sm80: mma.sync, ldmatrix, cp.async;
#    sm90: wgmma, TMA tensor copies, mbarrier waits, setmaxnreg; at D=64 and 128 the TMA
#    store of the persistent kernel's output).
# The machine code itself (HGMMA, no LDL/STL) is checked by scripts/sass-check.sh where a
# cuobjdump exists (the device machine).
#   scripts/audit-kernels.sh [extra nvcc flags...]   e.g. -DFC_SM80_MIN_BLOCKS=4 plants spills
set -uo pipefail
cd "$(dirname "$0")/.."
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
audit_family() {  # family, gencode..., -- required PTX instructions...
  local fam=$1; shift
  local gencodes=() needs=()
  while [ "$1" != "--" ]; do gencodes+=("$1"); shift; done; shift
  needs=("$@")
  for src in kernels/$fam/fwd_d*.cu; do
    local name; name=$(basename "$src" .cu)
    mkdir -p "$tmp/$name"
    if ! "$nvcc" -std=c++17 -O3 "${gencodes[@]}" "${EXTRA[@]}" -Ikernels/common -Ic/include \
         -Xptxas -v -keep -keep-dir "$tmp/$name" -c "$src" -o "$tmp/$name.o" > "$tmp/$name.log" 2>&1; then
      echo "FAIL $fam/$name: does not compile"; cat "$tmp/$name.log"; fail=1; continue
    fi
    local bad; bad=$(grep -E "bytes stack frame" "$tmp/$name.log" | grep -vE "^.*0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" | head -n 3)
    if grep -qE "\(C75[0-9][0-9]\)" "$tmp/$name.log"; then
      echo "FAIL $fam/$name: ptxas serialised wgmmas:"; grep -m3 -E "\(C75[0-9][0-9]\)" "$tmp/$name.log"; fail=1
    fi
    if [ -n "$bad" ]; then
      echo "FAIL $fam/$name: local memory or spills:"; echo "$bad"; fail=1
    else
      local regs; regs=$(grep -oE "Used [0-9]+ registers" "$tmp/$name.log" | awk '{print $2}' | sort -n | tail -n 1)
      echo "ok   $fam/$name: no spills, no stack, at most $regs registers"
    fi
    for ins in "${needs[@]}"; do
      if ! grep -qs "$ins" "$tmp/$name"/*.ptx; then echo "FAIL $fam/$name: no $ins in the PTX"; fail=1; fi
    done
  done
}
EXTRA=("$@")
audit_family sm80 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89 -- \
  "mma.sync.aligned.m16n8k16" "ldmatrix.sync.aligned" "cp.async.cg.shared.global"
# What the driver's JIT makes of the sm80 PTX on Hopper (the code an H100 runs for this
# family): reported, not failed, since it is no build target and the driver's ptxas may differ.
for src in kernels/sm80/fwd_d*.cu; do
  name=$(basename "$src" .cu)
  "$nvcc" -std=c++17 -O3 -gencode arch=compute_80,code=sm_90 "${EXTRA[@]}" -Ikernels/common -Ic/include \
    -Xptxas -v -c "$src" -o "$tmp/$name-jit90.o" > "$tmp/$name-jit90.log" 2>&1 || continue
  worst=$(grep -oE "[0-9]+ bytes spill stores" "$tmp/$name-jit90.log" | sort -n | tail -n 1)
  echo "note sm80/$name from PTX on sm_90: at most ${worst:-0 bytes spill stores}"
done
audit_family sm90 -gencode arch=compute_90a,code=sm_90a -- \
  "wgmma.mma_async.sync.aligned.m64n" "cp.async.bulk.tensor.4d" "mbarrier.try_wait.parity" \
  "setmaxnreg.inc.sync.aligned"
for name in fwd_d64 fwd_d128; do  # the persistent kernel's output tile fits at these head dims
  [ -d "$tmp/$name" ] || continue
  grep -qs "cp.async.bulk.tensor.4d.global.shared::cta" "$tmp/$name"/*.ptx ||
    { echo "FAIL sm90/$name: no TMA store of the output in the PTX"; fail=1; }
done
if [ $fail -ne 0 ]; then echo "audit: FAILED"; exit 1; fi
echo "audit: passed"
