// The link to the backing Redis: one pipelined TCP connection. GETs queued during a loop turn go
// out in one write; replies are matched to requests in FIFO order. On loss of the link every
// pending request fails in order, and the link is re-established with capped exponential backoff
// plus jitter. A request not answered within the backend timeout fails, and since a pipelined
// link cannot skip a reply, the stuck link is dropped and reconnected.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <random>
#include <string>

#include "resp/reply_reader.h"
#include "src/config.h"
#include "src/metrics.h"

namespace rcp {

class Server;
struct Fetch;

struct BackendStats {
  uint64_t requests = 0;    // GETs written to Redis
  uint64_t errors = 0;      // error replies from Redis
  uint64_t timeouts = 0;    // requests failed by the backend timeout
  uint64_t failed = 0;      // requests failed because the link was down or lost
  uint64_t connects = 0;    // successful (re)connections
  uint64_t disconnects = 0; // links lost or dropped
};

class Backend {
 public:
  enum class State { kIdle, kResolving, kConnecting, kHandshake, kUp, kBackoff, kClosed };

  explicit Backend(Server& server);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  void start();
  // Fails everything pending and closes all handles; the object may be destroyed once the loop
  // has run the close callbacks.
  void close();

  // Queues a GET for f. May complete f before returning (link down: fails fast).
  void submit(Fetch* f);
  // Writes what the loop turn queued (called once per loop turn).
  void flush();

  State state() const noexcept { return state_; }
  const char* stateName() const noexcept;
  size_t pending() const noexcept { return sent_.size() + waiting_.size(); }
  const BackendStats& stats() const noexcept { return stats_; }
  const LatencyHistogram& latency() const noexcept { return latency_; }

 private:
  struct Link;  // one TCP connection; replaced on reconnect

  void connect();
  void onResolved(int status, struct addrinfo* res);
  void onConnected(Link* link, int status);
  void onRead(Link* link, ssize_t nread, const uv_buf_t* buf);
  void onWritten(Link* link, int status);
  void onTick();
  void onReply(const resp::ReplyReader::Reply& r);
  void linkLost(const char* why, bool immediate_retry);
  void scheduleReconnect(bool immediate);
  void sendWaiting();
  void failAll(int kind, const char* why);
  static void* makeEntry(void* ctx, const char* data, size_t len) noexcept;
  static void destroyEntry(void* obj) noexcept;

  Server& server_;
  State state_ = State::kIdle;
  Link* link_ = nullptr;          // current link, null when none
  std::deque<Fetch*> sent_;       // written (or queued in out_) and awaiting replies; null = handshake reply
  std::deque<Fetch*> waiting_;    // not sent yet: over --max-inflight, or while connecting
  std::string out_;               // commands queued this turn
  uv_timer_t reconnect_timer_;
  uv_timer_t tick_timer_;         // checks deadlines
  uv_getaddrinfo_t resolve_req_;
  bool resolving_ = false;
  unsigned attempt_ = 0;          // consecutive failed connection attempts
  std::string last_error_;
  std::minstd_rand rng_;
  BackendStats stats_;
  LatencyHistogram latency_;
  int closed_handles_ = 0;
};

}  // namespace rcp
