/* Scalar bf16/f16 <-> f32 conversions with round-to-nearest-even, as the GPU converts.
 * Header-only so the tests and benchmarks round exactly like the CPU backend. */
#ifndef FC_CONVERT_H
#define FC_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline float fc_bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t fc_f32_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static inline float fc_bf16_to_f32(uint16_t h) { return fc_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t fc_f32_to_bf16(float f) {
  uint32_t u = fc_f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static inline float fc_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return fc_bits_to_f32(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return fc_bits_to_f32(sign);
    /* subnormal: value = man * 2^-24 */
    float f = (float)man * 5.9604644775390625e-8f;
    return sign ? -f : f;
  }
  return fc_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t fc_f32_to_f16(float f) {
  uint32_t u = fc_f32_to_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
  if (a < 0x38800000u) {                                   /* subnormal or zero in f16 */
    /* f16 subnormal step is 2^-24: round a * 2^24 to nearest even via float arithmetic. */
    float x = fc_bits_to_f32(a) * 16777216.0f;
    uint32_t r = (uint32_t)x;
    float frac = x - (float)r;
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t e = (a >> 23) - 112u, man = a & 0x7fffffu;
  uint32_t h = (e << 10) | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

/* Load/store element i of a buffer of dtype dt (fc_dtype values) as float. */
static inline float fc_load(const void *base, int dt, int64_t i) {
  if (dt == 0) return ((const float *)base)[i];
  uint16_t h = ((const uint16_t *)base)[i];
  return dt == 1 ? fc_f16_to_f32(h) : fc_bf16_to_f32(h);
}
static inline void fc_store(void *base, int dt, int64_t i, float x) {
  if (dt == 0)
    ((float *)base)[i] = x;
  else
    ((uint16_t *)base)[i] = dt == 1 ? fc_f32_to_f16(x) : fc_f32_to_bf16(x);
}
/* Round a float through dtype dt and back. */
static inline float fc_round_to(int dt, float x) {
  if (dt == 0) return x;
  return dt == 1 ? fc_f16_to_f32(fc_f32_to_f16(x)) : fc_bf16_to_f32(fc_f32_to_bf16(x));
}

#endif
