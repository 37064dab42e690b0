#!/usr/bin/env bash
# Disassembles a built library and checks its kernels' machine code: every sm90 kernel must
# hold HGMMA (wgmma) and UTMALDG (TMA loads), and no kernel may touch local memory (LDL/STL).
# Prints one line per kernel. cuobjdump comes from the CUDA toolkit, or from PyPI's
# nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm wheels (scripts/setup-debian.sh fetches them
# into .tools/ where the toolkit has none).
#   scripts/sass-check.sh [build/libflashcore.so]
set -uo pipefail
cd "$(dirname "$0")/.."
lib=${1:-build/libflashcore.so}
PATH="$PATH:/usr/local/cuda/bin:$PWD/.tools/bin"
if ! command -v cuobjdump > /dev/null || ! command -v nvdisasm > /dev/null; then
  echo "sass-check: skipped (no cuobjdump/nvdisasm; scripts/setup-debian.sh fetches them)"; exit 0
fi
cuobjdump --dump-sass "$lib" | awk '
  /Function : / { fn = $NF; arch[fn] = cur }
  /code for sm_/ { cur = $NF }
  fn != "" && /HGMMA/ { hg[fn]++ }
  fn != "" && /UTMALDG/ { tma[fn]++ }
  fn != "" && /[^A-Z](LDL|STL)[. ]/ { loc[fn]++ }
  END {
    bad = 0
    for (f in arch) {
      sm90 = f ~ /sm90/
      printf "%-8s %-7s HGMMA %3d  UTMALDG %3d  LDL/STL %3d  %s\n", (sm90 && (!hg[f] || !tma[f])) || loc[f] ? "FAIL" : "ok", arch[f], hg[f], tma[f], loc[f], f
      if ((sm90 && (!hg[f] || !tma[f])) || loc[f]) bad = 1
    }
    exit bad
  }' | sort -k8
rc=${PIPESTATUS[1]}
[ "$rc" = 0 ] && echo "sass-check: passed" || echo "sass-check: FAILED"
exit "$rc"
