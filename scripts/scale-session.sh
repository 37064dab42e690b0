#!/usr/bin/env bash
# This session's one 2-GPU call: a gate self-test (a measured run that must finish in time;
# if it does not, the rest runs with ungated rounds and says so), the copy-engine against
# kernel all-gather comparison, then the full scaling check (threads, mpirun, mixed families).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH="$PWD/build:$PWD/.carry/lib:${LD_LIBRARY_PATH:-}"
timeout 60 build/scaling/flashcore-scale --shape 2,16,16,8192,128,1 --chunks 8 --no-check --reps 20 > /tmp/gate-test.log 2>&1
rc=$?
echo "gate self-test rc=$rc"; grep -E "^ +[12] " /tmp/gate-test.log
if [ $rc != 0 ]; then export FC_SCALE_GATE=0; echo "GATE OFF for the rest of this call"; tail -n 5 /tmp/gate-test.log; fi
ENGINES="${ENGINES:-ce sm}" CHUNKS="${CHUNKS:-4}" scripts/scale-engines.sh
scripts/scale-check.sh
