#!/usr/bin/env bash
set -u
[ "$(nvidia-smi -L | grep -c H100)" = 2 ] || { nvidia-smi -L; exit 0; }
export NCCL_NVLS_ENABLE=0 FC_COMMIT=$(cat .carry/commit)
S=/tmp/sess; rm -rf $S; mkdir -p $S $OUT
OUT=$S/ab-strong ROUNDS=2 scripts/scale-ab.sh final -- --sweep strong --no-check --shape 2,16,16,8192,128,1 --shape 1,16,16,16384,128,1 --shape 2,16,16,8192,128,0 --shape 1,16,16,16384,128,0 > $S/ab-strong.txt 2>&1
grep -E "==|^ +2 " $S/ab-strong.txt | cut -c1-150
tar -czf $OUT/all.tar.gz -C $S .
