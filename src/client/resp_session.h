// RESP protocol session: parses requests (multibulk and inline) and runs them: GET through the
// read-through cache, the commands the proxy answers itself (local_commands.h), anything else
// refused with an error. Renders lookups as RESP: a hit is the cached entry's bulk bytes, zero-copy.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"
#include "src/client/session.h"

namespace rcp::client {

class Connection;

class RespSession final : public Session {
 public:
  explicit RespSession(Connection& conn);
  void onData(const char* data, size_t len) override;
  void resume() override { run(); }
  bool hasBacklog() const override { return parser_.buffered() > 0; }
  Input input() const override {
    size_t held = parser_.buffered();
    return {held, held > 0};
  }
  void render(Reply& reply, Part& part, const proxy::Lookup& r) override;

 private:
  void run();
  // Prefetches the cache lines the next GETs in the input will touch (see LruCache::prefetch).
  void prefetchAhead();
  static constexpr size_t kPrefetchRequests = 16;    // GETs looked ahead at once
  static constexpr size_t kMinBatchBytes = 64;       // less input than this is at most one short GET
  static constexpr size_t kPrefetchValueBytes = 256; // values up to this size are prefetched on a hit
  void dispatch(const std::vector<std::string_view>& args);
  void get(std::string_view key);  // GET: the read-through cache
  std::string& reply();            // a ready reply's text, which the caller fills

  Connection& conn_;
  resp::RequestParser parser_;
  size_t prefetched_ = 0;  // requests parsed ahead of whose cache lines were prefetched
  // The keys the look-ahead hashed, so a GET whose parsed key has the same bytes reuses the hash
  // (the hint is never trusted: only equal bytes share a hash). Keys longer than kAheadKeyBytes
  // are hashed again.
  static constexpr size_t kAheadKeyBytes = 48;
  struct Ahead {
    uint64_t hash;
    uint32_t len;  // 0: not kept
    char key[kAheadKeyBytes];
  };
  Ahead ahead_[kPrefetchRequests];
  size_t ahead_n_ = 0;     // entries of the current look-ahead
  size_t ahead_at_ = 0;    // the entry of the request being run
};

}  // namespace rcp::client
