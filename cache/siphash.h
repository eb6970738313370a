// SipHash (Aumasson and Bernstein): a keyed hash whose output an adversary who does not know the
// 128-bit key cannot steer, so no client can choose keys that collide in a table. The cache uses
// SipHash-1-2, as Redis does for its dictionaries (one compression round per 8 bytes, two
// finalisation rounds); the round counts are parameters so the core can be checked against the
// reference vectors of SipHash-2-4.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rcp {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

template <int C, int D>
inline uint64_t sipHash(const SipKey& key, const void* data, size_t len) noexcept {
  const auto* in = static_cast<const unsigned char*>(data);
  uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0, v1 = 0x646f72616e646f6dULL ^ key.k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0, v3 = 0x7465646279746573ULL ^ key.k1;
  auto round = [&]() noexcept {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  };
  auto load = [](const unsigned char* p, size_t n) noexcept {  // n <= 8 bytes, little-endian
    uint64_t m = 0;
    for (size_t i = 0; i < n; ++i) m |= uint64_t{p[i]} << (8 * i);
    return m;
  };
  size_t whole = len & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m;
    if constexpr (std::endian::native == std::endian::little) std::memcpy(&m, in + i, 8);
    else m = load(in + i, 8);
    v3 ^= m;
    for (int r = 0; r < C; ++r) round();
    v0 ^= m;
  }
  uint64_t last = (uint64_t{len} << 56) | load(in + whole, len & 7);
  v3 ^= last;
  for (int r = 0; r < C; ++r) round();
  v0 ^= last;
  v2 ^= 0xff;
  for (int r = 0; r < D; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace rcp
