#!/usr/bin/env bash
# Disassembles a built library and checks its kernels' machine code: every sm90 attention kernel must
# hold HGMMA (wgmma) and UTMALDG (TMA loads), the persistent ones with an output tile (D=64,
# and D=128 on 128-key tiles, with out_copies or not) UTMASTG (TMA stores) too, the 128-key
# D=128 ones Q K^T wgmmas with A in registers, and no kernel may touch local memory (LDL/STL).
# Prints one line per kernel. cuobjdump comes from the CUDA toolkit (the device machine's has
# it), or from PyPI's nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm wheels unpacked by hand
# into .tools/bin where the toolkit has none; without it the check is skipped. CI's static
# check is scripts/audit-kernels.sh.
#   scripts/sass-check.sh [build/libflashcore.so]
set -uo pipefail
cd "$(dirname "$0")/.."
lib=${1:-build/libflashcore.so}
PATH="$PATH:/usr/local/cuda/bin:$PWD/.tools/bin"
if ! command -v cuobjdump > /dev/null || ! command -v nvdisasm > /dev/null; then
  echo "sass-check: skipped (no cuobjdump/nvdisasm: the toolkit's, or PyPI's wheels in .tools/bin)"; exit 0
fi
cuobjdump --dump-sass "$lib" | awk '
  /Function : / { fn = $NF; arch[fn] = cur }
  /code for sm_/ { cur = $NF }
  fn != "" && /HGMMA/ { hg[fn]++ }
  fn != "" && /UTMALDG/ { tma[fn]++ }
  fn != "" && /UTMASTG/ { tst[fn]++ }
  # Q K^T with its A operand in registers (no .tnspB, which P V has)
  fn != "" && /HGMMA[^ ]* R[0-9]+, R[0-9]+, gdesc/ && !/tnspB/ { rsq[fn]++ }
  fn != "" && /[^A-Z](LDL|STL)[. ]/ { loc[fn]++ }
  END {
    bad = 0
    for (f in arch) {
      # the attention kernels (merge_key_splits, which merges the pieces of a split launch, has no product)
      sm90 = f ~ /sm90/ && f ~ /fwd_kernel/
      # fwd_kernel<T, D, BN, C, STAGES, PERSISTENT, COPIES, EXACT, VARLEN>: persistent, D=64 or
      # D=128 x 128
      staged = sm90 && f ~ /Lb1ELb[01]ELb[01]ELb[01]EEE/ && (f ~ /Li64ELi128E/ || f ~ /Li128ELi128E/)
      # the 128-key D=128 kernels take the first 96 columns of Q from registers (kQRegs: 6 k-steps)
      qregs = sm90 && f ~ /Li128ELi128E/
      fail = (sm90 && (!hg[f] || !tma[f])) || (staged && !tst[f]) || (qregs && rsq[f] < 6) || loc[f]
      printf "%-8s %-7s HGMMA %3d  UTMALDG %3d  UTMASTG %2d  Q regs %2d  LDL/STL %3d  %s\n", fail ? "FAIL" : "ok", arch[f], hg[f], tma[f], tst[f], rsq[f], loc[f], f
      if (fail) bad = 1
    }
    exit bad
  }' | sort -k14
rc=${PIPESTATUS[1]}
[ "$rc" = 0 ] && echo "sass-check: passed" || echo "sass-check: FAILED"
exit "$rc"
