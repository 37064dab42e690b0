#!/usr/bin/env bash
set -u
[ "$(nvidia-smi -L | grep -c H100)" = 2 ] || { nvidia-smi -L; exit 0; }
export NCCL_NVLS_ENABLE=0 FC_COMMIT=$(cat .carry/commit)
final=$OUT; S=/tmp/sess; rm -rf $S; mkdir -p $S $final
OUT=$S/ab-weak ROUNDS=2 scripts/scale-ab.sh final -- --sweep weak --no-check --shape 1,8,8,4096,128,1 --shape 1,8,8,8192,128,1 --shape 1,8,8,16384,128,1 > $S/ab-weak.txt 2>&1
grep -E "==|^ +2 " $S/ab-weak.txt | cut -c1-150
OUT=$S/session WITH_MIXED=1 WITH_TOKENS=1 scripts/scale-session.sh 2>&1 | tee $S/session.txt | grep -E "==|rc=|^ +2 " | cut -c1-150
tar -czf $final/all.tar.gz -C $S .
