#!/usr/bin/env bash
# What machine a device call got, for its history folder: the GPUs' names, power caps and top
# SM clocks, and the first rows of the topology matrix (NVLink or not). Writes FILE (default
# $OUT/gpu.txt) and prints it; prints the number of GPUs of KIND (e.g. H100) on its last line
# when KIND is given, so a call script can branch on what came:
#   n=$(scripts/gpu-info.sh "$OUT/gpu.txt" H100 | tail -n 1)
set -uo pipefail
file=${1:-${OUT:-/tmp}/gpu.txt}
command -v nvidia-smi > /dev/null || { echo "gpu-info.sh: no nvidia-smi here" >&2; exit 2; }
{
  nvidia-smi -L
  nvidia-smi --query-gpu=index,pci.bus_id,power.limit,clocks.max.sm --format=csv
  nvidia-smi topo -m 2>/dev/null | sed "s/\x1b\[[0-9;]*m//g" | head -n 10
} > "$file" 2>&1
cat "$file"
[ $# -ge 2 ] && nvidia-smi -L | grep -c "$2"
exit 0
