// Tile configurations of the sm80 family: one row per head dim, per shared-memory class.
// Every warp owns 16 query rows (one m16 mma tile), so block_m = 16 * warps.
// Shared memory holds Q (block_m rows) plus one K and one V tile (block_n rows each); every
// row is padded by 8 elements (16 bytes) so that the 8 row addresses of an ldmatrix fall in
// 8 different bank groups for every head dim (pitches of 80, 144, 208, 272, 400, 528 bytes
// are all 16 mod 128 or cover all 8 groups).
#pragma once

namespace fc::sm80 {

struct Config {
  int head_dim;
  int block_m;  // query rows per CTA
  int block_n;  // key rows per iteration
};

constexpr int kPad = 8;

constexpr int smem_bytes(Config c) { return (c.block_m + 2 * c.block_n) * (c.head_dim + kPad) * 2; }
constexpr int warps(Config c) { return c.block_m / 16; }

// A100 (164 KB) and Hopper (227 KB) opt-in shared memory.
//  D <= 64:  128 x 128. Short rows make S cheap in registers (64 floats per thread); a wide
//            key tile halves the online-softmax rescaling per key.
//  D 96-128: 128 x 64. 8 warps; O takes 64 floats per thread, S 32; 70 KB of shared memory
//            leaves room for 2-3 CTAs per SM to hide the loads behind the other CTA's math.
//  D 192-256: 128 x 32. O takes 128 floats per thread; with block_n = 64 the 32 score
//            floats beside it spilled (ptxas, D=256), with 32 keys (16 floats) nothing does.
constexpr Config big_smem(int d) {
  return d <= 64 ? Config{d, 128, 128} : d <= 128 ? Config{d, 128, 64} : Config{d, 128, 32};
}
// Ada (sm_86, sm_89: 99 KB opt-in). Same as above up to D = 128 (70 KB fits); for D >= 192
// a 64 x 32 tile (4 warps) needs 42-68 KB.
constexpr Config small_smem(int d) {
  return d <= 128 ? big_smem(d) : Config{d, 64, 32};
}

static_assert(smem_bytes(big_smem(256)) <= 163 * 1024, "A100 shared memory");
static_assert(smem_bytes(small_smem(256)) <= 99 * 1024, "Ada shared memory");
static_assert(smem_bytes(small_smem(128)) <= 99 * 1024, "Ada shared memory");

}  // namespace fc::sm80
