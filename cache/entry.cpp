// Allocation and framing of cache entries (see entry.h).
#include "cache/entry.h"

#include <cassert>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "cache/siphash.h"

namespace rcp {

Entry* Entry::createUninitialized(std::string_view key, size_t value_len) {
  char header[32] = "$";
  if (value_len > UINT32_MAX || key.size() > UINT32_MAX) throw std::length_error("cache entry too large");
  char* end = std::to_chars(header + 1, header + sizeof header - 2, value_len).ptr;
  *end++ = '\r';
  *end++ = '\n';
  int hlen = static_cast<int>(end - header);
  size_t total = sizeof(Entry) + key.size() + static_cast<size_t>(hlen) + value_len + 2;
  void* mem = std::malloc(total);
  if (mem == nullptr) throw std::bad_alloc();
  Entry* e = new (mem) Entry();
  e->key_len_ = static_cast<uint32_t>(key.size());
  e->value_len_ = value_len;
  e->resp_header_len_ = static_cast<uint8_t>(hlen);
  if (!key.empty()) std::memcpy(e->bytes(), key.data(), key.size());
  std::memcpy(e->bytes() + key.size(), header, static_cast<size_t>(hlen));
  std::memcpy(e->bytes() + key.size() + hlen + value_len, "\r\n", 2);
  return e;
}

uint64_t Entry::etagOf(std::string_view value) noexcept {
  // A fixed, published key: the tag must be the same in every proxy and across restarts. It
  // validates, it does not guard a table against chosen collisions.
  static constexpr SipKey kEtagKey{0x7263702d65746167ULL, 0x2d7369706861736bULL};
  return sipHash<1, 2>(kEtagKey, value.data(), value.size());
}

Entry* Entry::create(std::string_view key, std::string_view value) {
  Entry* e = createUninitialized(key, value.size());
  if (!value.empty()) std::memcpy(e->valueData(), value.data(), value.size());
  e->etag_ = etagOf(value);
  return e;
}

Entry* Entry::createAbsent(std::string_view key) {
  Entry* e = create(key, {});
  e->absent_ = true;
  e->etag_ = 0;
  return e;
}

static_assert(sizeof(Entry) == 64, "see the layout note on Entry's fields");

void Entry::release() noexcept {
  assert(refs_ > 0);
  if (--refs_ == 0) {
    assert(!cached_);
    this->~Entry();
    std::free(this);
  }
}

}  // namespace rcp
