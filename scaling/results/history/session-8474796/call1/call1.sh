#!/usr/bin/env bash
# Session 8474796, call 1 (one H200): kv-stream's every mode at B=64 and 132; main's decode
# B = 32, 64, 132 (BSHD, no check) with the SDPA peers in BHSD and in BSHD memory.
set -uo pipefail
export OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; export FC_COMMIT=$(cat .carry/commit)
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .carry/variants/full/libflashcore.so.0.1.xz build/libflashcore.so.0.1.0
scripts/gpu-info.sh "$OUT/gpu.txt" > /dev/null; echo "== unpacked $(date +%T)"
for b in 64 132; do timeout 90 build/kv-stream $b 20 > "$OUT/kv-stream-b$b.txt" 2>&1; echo "== kv-stream $b rc=$? $(date +%T)"; cat "$OUT/kv-stream-b$b.txt"; done
s=/usr/bin/time; t0=$(date +%s.%N)
LD_LIBRARY_PATH=$PWD/build:$PWD/.carry/lib timeout 120 build/scaling/flashcore-bench --family auto --no-check \
  --shape 32,32,8,1,8192,128,0 --shape 64,32,8,1,8192,128,0 --shape 132,32,8,1,8192,128,0 --json /tmp/dec.json > "$OUT/bench.log" 2>&1
echo "== bench rc=$? wall $(python3 -c "import time; print(round(time.time() - $t0, 1))") s $(date +%T)"; cat "$OUT/bench.log"
for lay in bhsd bshd; do
  PYTHONUNBUFFERED=1 timeout 150 python3 scaling/sdpa_peers.py /tmp/dec.json "$OUT/decode-peers-$lay-h200.json" --peer-layout $lay > "$OUT/peers-$lay.log" 2>&1
  echo "== peers $lay rc=$? $(date +%T)"; cat "$OUT/peers-$lay.log"
done
python3 - "$OUT/decode-peers-bhsd-h200.json" "$OUT/decode-peers-bshd-h200.json" <<'PY' | tee "$OUT/summary.txt"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"{'B':>4} {'fc ms':>8} {'fc TB/s':>8} {'cudnn bhsd':>11} {'x':>6} {'cudnn bshd':>11} {'x':>6} {'fa2 bhsd':>9} {'fa2 bshd':>9}")
for r, s in zip(a["rows"], b["rows"]):
    byt = r["gbps"] * r["ms"] * 1e-3 * 1e9
    cb, cs = r["peers"]["cudnn"].get("ms") or float("nan"), s["peers"]["cudnn"].get("ms") or float("nan")
    fb, fs = r["peers"]["flash"].get("ms") or float("nan"), s["peers"]["flash"].get("ms") or float("nan")
    print(f"{r['B']:>4} {r['ms']:>8.4f} {r['gbps'] / 1000:>8.3f} {cb:>8.4f} ({byt / cb / 1e9:.2f}) {cb / r['ms']:>6.3f} "
          f"{cs:>8.4f} ({byt / cs / 1e9:.2f}) {cs / r['ms']:>6.3f} {fb:>9.4f} {fs:>9.4f}")
PY
