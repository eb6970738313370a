// The RESP client's reads through the cache: GET and MGET served by the read-through (a hit is
// the cached entry's bulk bytes, zero-copy; misses wait on one backend read each, or one MGET per
// slot), the look-ahead that prefetches the cache lines of the GETs queued in the input, and the
// rendering of what the lookups return. The session decides when the cache serves a read
// (serves()); this room does the reading.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "resp/commands.h"
#include "resp/request_parser.h"
#include "src/client/connection.h"
#include "src/client/reply.h"
#include "src/client/session_context.h"

namespace rcp::client {

class CacheReads {
 public:
  using Args = std::vector<std::string_view>;
  static constexpr size_t kMaxCachedMgetKeys = 4096;  // a larger MGET is forwarded as it is

  explicit CacheReads(const SessionContext& context) : ctx_(context) {}

  // Whether the cache can serve this GET or MGET (keys within --max-key-bytes, an MGET within
  // kMaxCachedMgetKeys); the client's state is the session's to weigh.
  bool serves(resp::Cmd id, const Args& args) const noexcept {
    size_t max_key = ctx_.config.max_key_bytes;
    if (id == resp::Cmd::kGet) return args.size() == 2 && args[1].size() <= max_key;
    if (args.size() < 2 || args.size() - 1 > kMaxCachedMgetKeys) return false;
    for (size_t i = 1; i < args.size(); ++i)
      if (args[i].size() > max_key) return false;
    return true;
  }

  // --- the look-ahead, driven by the request pump
  // A request is about to be parsed by parser (its unparsed input is read only when a new
  // look-ahead starts: once per batch).
  void beforeParse(const resp::RequestParser& parser) {
    if (prefetched_ == 0) {
      ahead_n_ = ahead_at_ = 0;
      prefetchAhead(parser.unparsed());
    } else {
      --prefetched_;
      ++ahead_at_;
    }
  }
  // The input was used up, or the pump stopped: the next batch starts with a new look-ahead.
  void forgetAhead() noexcept {
    prefetched_ = 0;
    ahead_n_ = 0;
  }

  // Queues the reply of a GET (or MGET) on conn, in the client's protocol; returns how many of its
  // parts wait on a lookup (0: answered from the cache).
  uint32_t get(Connection& conn, std::string_view key, int proto);
  uint32_t mget(Connection& conn, const Args& args, int proto);
  // A GET's or an MGET key's lookup finished: its part rendered (kGet, kMget parts).
  void render(Reply& reply, Part& part, const proxy::Lookup& r, int proto);
  // An MGET with a failed key: the reply becomes that key's error, as Redis answers a failed command.
  static void finish(Reply& reply);

 private:
  // Prefetches the cache lines the next GETs in the input will touch (see LruCache::prefetch).
  void prefetchAhead(std::string_view rest);
  static constexpr size_t kPrefetchRequests = 16;    // GETs looked ahead at once
  static constexpr size_t kMinBatchBytes = 64;       // less input than this is at most one short GET
  static constexpr size_t kPrefetchValueBytes = 256; // values up to this size are prefetched on a hit

  const SessionContext& ctx_;
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
  size_t ahead_n_ = 0;   // entries of the current look-ahead
  size_t ahead_at_ = 0;  // the entry of the request being run
  std::vector<proxy::Waiter*> waiters_;  // scratch (MGET)
  std::vector<EntryRef> hits_;           // scratch (MGET)
};

}  // namespace rcp::client
