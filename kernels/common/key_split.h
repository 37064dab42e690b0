// Keys split over the SMs (flash-decoding), for every GPU family: the rule that decides how
// many pieces, and a piece's record in the workspace. merge_key_splits.cuh merges them.
//
// A launch with few tiles (a decode of one or a few sequences: B=1, H=32, Hk=8 is 8 tiles
// after the GQA fold) leaves most SMs idle while each CTA reads every key of its head: on a
// 132-SM H100, 131072 keys took 1.41 ms on sm90 and 3.78 ms on sm80, against 0.18 ms for the
// K/V bytes at 3 TB/s (results/history/session-cf2c0e6/, call 2). Split, each tile's key
// tiles are cut into `splits` runs, one CTA each; every piece leaves its rows' output
// (normalised, in float) and log-sum-exp in a workspace, and a second kernel merges them.
#pragma once

#ifdef __CUDACC__
#define FC_KS_HD __host__ __device__
#else
#define FC_KS_HD
#endif

namespace fc {

// As many pieces as one wave holds (tiles x splits <= sms) where the tiles fill at most half
// the SMs, each piece at least kMinSplitKeyTiles key tiles, at most kMaxKeySplits (the
// merge weighs a piece a thread; one tile of a 132-SM H100 takes 132). `eligible`: the
// family can split this launch (its own conditions). 1 for no split.
constexpr int kMinSplitKeyTiles = 2, kMaxKeySplits = 256;
FC_KS_HD constexpr int key_splits(long long tiles, long long sms, long long key_tiles, bool eligible) {
  if (!eligible || tiles < 1 || 2 * tiles > sms) return 1;
  long long s = sms / tiles;
  if (s > key_tiles / kMinSplitKeyTiles) s = key_tiles / kMinSplitKeyTiles;
  if (s > kMaxKeySplits) s = kMaxKeySplits;
  return s < 2 ? 1 : (int)s;
}
static_assert(key_splits(8, 132, 745, true) == 16 && key_splits(32, 132, 47, true) == 4 &&
                  key_splits(8, 132, 3, true) == 1 && key_splits(67, 132, 745, true) == 1 &&
                  key_splits(1, 132, 745, true) == 132 && key_splits(1, 528, 745, true) == 256 &&
                  key_splits(8, 132, 745, false) == 1,
              "key_splits");

// Piece `piece` of `splits` runs through a tile's n visited key tiles, as equal as whole tiles
// allow (the first n % splits runs one tile longer; none empty unless n < splits): sets
// *first, the run's first tile in visiting order, and returns its length. Both families cut
// with it; the longest run, ceil(n / splits) tiles, sets the launch's time.
FC_KS_HD constexpr int key_split_run(int n, int splits, int piece, int *first) {
  const int base = n / splits, extra = n % splits;
  *first = piece * base + (piece < extra ? piece : extra);
  return base + (piece < extra ? 1 : 0);
}
static_assert([] {
  int f0 = -1, f8 = -1, f9 = -1, f15 = -1, e = -1;
  return key_split_run(745, 16, 0, &f0) == 47 && f0 == 0 && key_split_run(745, 16, 8, &f8) == 47 && f8 == 376 &&
         key_split_run(745, 16, 9, &f9) == 46 && f9 == 423 && key_split_run(745, 16, 15, &f15) == 46 && f15 == 699 &&
         key_split_run(3, 4, 3, &e) == 0 && key_split_run(0, 4, 0, &e) == 0;
}(), "key_split_run");

// A piece's record: `rows` rows of D floats of output, then the rows' log-sum-exp (natural
// log; -inf for a row the piece saw no key of, whose output is 0), padded to whole 16 bytes
// so that every record starts 16-byte aligned (the pieces store float2; records of 1 or 3 rows
// of D + 1 floats left them misaligned: results/history/session-d6e3164/, call 1). Records
// follow each other in the order (piece, batch, head).
FC_KS_HD constexpr long long key_split_record_floats(long long rows, int d) { return rows * d + (rows + 3) / 4 * 4; }
FC_KS_HD constexpr long long key_split_record_bytes(long long rows, int d) { return key_split_record_floats(rows, d) * 4; }
// The workspace a launch of `tiles` tiles (a (batch, head) or a row block of one each) in
// `splits` pieces takes: a record each; 0 without a split. Each family's plan reports it
// (fc_kernel_info.workspace_bytes) and its launch takes it, from the caller's workspace or
// the pool's.
FC_KS_HD constexpr long long key_split_workspace_bytes(long long tiles, int splits, long long rows, int d) {
  return splits > 1 ? tiles * splits * key_split_record_bytes(rows, d) : 0;
}
static_assert(key_split_workspace_bytes(2, 66, 64, 128) == 2LL * 66 * (64 * 128 + 64) * 4 &&
                  key_split_workspace_bytes(8, 1, 4, 128) == 0,
              "key_split_workspace_bytes");
static_assert(key_split_record_floats(16, 128) == 16 * 129 && key_split_record_floats(1, 64) == 68 &&
                  key_split_record_floats(3, 192) == 580,
              "key_split_record_floats");

}  // namespace fc
