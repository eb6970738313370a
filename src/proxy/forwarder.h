// Forwarded commands: a client's command sent to Redis as it is (on the shared pipelined link, or
// on the client's pinned connection) and Redis's reply handed back whole to the waiter, which
// relays it byte for byte. Requests are pooled: steady traffic allocates nothing.
//
// Read-your-writes is the session's rule (it invalidates a write's keys before forwarding it); a
// command may also ask for keys to be invalidated again when its reply arrives: a transaction's
// EXEC runs on a pinned connection, so a read on the shared link could have raced it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/upstream.h"
#include "src/proxy/read_through.h"
#include "src/proxy/slot_groups.h"
#include "src/proxy/split_rules.h"

namespace rcp::proxy {

struct ForwardStats {
  uint64_t forwarded = 0;  // commands sent to Redis for clients (GET misses not included)
  uint64_t split = 0;      // commands split over cluster nodes (or sent to every node)
  uint64_t split_parts = 0;
};

class Forwarder {
 public:
  explicit Forwarder(ReadThrough& read_through);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // What to invalidate again when the reply (or a failure: the write may have happened) arrives.
  // The keys lie back to back in one buffer, and the buffers travel between the caller and the
  // pooled requests by swapping: in steady traffic a write allocates nothing for them.
  struct After {
    std::string bytes;           // the keys, back to back
    std::vector<uint32_t> ends;  // where each key ends in bytes
    bool all = false;
    void add(std::string_view key) {
      bytes.append(key);
      ends.push_back(static_cast<uint32_t>(bytes.size()));
    }
    bool empty() const noexcept { return ends.empty() && !all; }
    void clear() noexcept {
      bytes.clear();
      ends.clear();
      all = false;
    }
    template <typename F>
    void forEach(F&& f) const {
      uint32_t at = 0;
      for (uint32_t end : ends) {
        f(std::string_view(bytes).substr(at, end - at));
        at = end;
      }
    }
  };
  // Sends args to `to`; w->onResult() follows with kReply (Redis's reply, any type, errors
  // included), kUnavailable or kTimeout, never inside this call. timeout_ms 0: no deadline
  // (a blocking command). after, if given, is taken (left empty, with buffers to reuse). raw, if not empty, is the request's RESP
  // encoding as the client sent it (copied as it is instead of encoding args again).
  // slot: the Redis Cluster slot of its keys (Request::kAnySlot: keyless).
  void forward(backend::Target& to, std::span<const std::string_view> args, Waiter& w, uint64_t timeout_ms,
               After* after = nullptr, std::string_view raw = {}, int32_t slot = backend::Request::kAnySlot);

  // A Redis Cluster's multi-key commands and keyless ones that concern every node (split_rules.h):
  // sent in parts, and w gets one reply (kEncoded) made of theirs, as one Redis would have answered.
  using Combine = proxy::Combine;
  // Splits args (the name, then keys, each followed by step - 1 values) by slot: one command per
  // slot (slot_groups.h), the replies combined by how.
  void forwardSplit(backend::Upstream& to, std::span<const std::string_view> args, size_t step, Combine how,
                    Waiter& w, uint64_t timeout_ms, After* after = nullptr);
  // SCAN over every primary in turn: the client's cursor holds the node's index in its top bits
  // (kScanNodeShift) and that node's own cursor below; a node's last page leads to the next node.
  // args[1] is the cursor. False (nothing sent) when the cursor names no node.
  static constexpr unsigned kScanNodeShift = 48;
  bool forwardScan(backend::Upstream& to, std::span<const std::string_view> args, Waiter& w, uint64_t timeout_ms);
  // args as they are, to every primary.
  void forwardAll(backend::Upstream& to, std::span<const std::string_view> args, Combine how, Waiter& w,
                  uint64_t timeout_ms, After* after = nullptr);
  const ForwardStats& stats() const noexcept { return stats_; }

 private:
  class Forward;
  class Split;
  void done(Forward* f) noexcept;

  static constexpr size_t kMaxFree = 1024;            // requests kept for reuse
  static constexpr size_t kMaxKeptCommandBytes = 4096; // a larger command's buffer is not kept

  ReadThrough& read_through_;
  SlotGroups groups_;              // scratch (forwardSplit)
  std::vector<uint16_t> slots_;    // scratch (forwardSplit)
  std::vector<Forward*> free_;
  size_t live_ = 0;
  size_t live_splits_ = 0;
  ForwardStats stats_;
};

}  // namespace rcp::proxy
