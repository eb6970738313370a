// The client side of the proxy: every client connection, what they share (the read-through, the
// reply pool, the gather buffer, the HTTP date, the counters), and the end-of-turn write pass over
// the connections that have replies to send. The server owns one and hands it accepted sockets.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "http/response.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/client/reply.h"
#include "resp/commands.h"
#include "src/backend/pinned.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"

namespace rcp::client {

class Connection;

enum class Proto : uint8_t { kResp = 0, kHttp = 1 };
enum class Outcome : uint8_t { kHit = 0, kMiss = 1, kError = 2 };

struct ClientStats {
  uint64_t connections_received = 0;  // accepted, including rejected ones
  uint64_t rejected_connections = 0;  // over --max-clients
  uint64_t protected_denied = 0;
  uint64_t tracking_open_refused = 0;  // CLIENT TRACKING on refused over --tracking-open-rate      // refused by protected mode (a non-loopback client, no --requirepass)
  uint64_t resp_connections = 0;
  uint64_t http_connections = 0;
  uint64_t resp_requests = 0;
  uint64_t resp3_requests = 0;       // of which from clients speaking RESP3
  uint64_t resp3_hellos = 0;         // HELLO 3 accepted
  uint64_t resp3_clients = 0;        // clients speaking RESP3 now
  uint64_t http_requests = 0;
  uint64_t http_not_modified = 0;    // 304s: If-None-Match named the value's ETag
  uint64_t protocol_errors = 0;
  uint64_t unknown_commands = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t idle_closes = 0;          // clients closed by --idle-timeout
  uint64_t output_limit_closes = 0;  // clients closed for not reading (--max-output-bytes)
  uint64_t request_timeouts = 0;     // clients closed for a request not arriving whole (--request-timeout)
  uint64_t input_limit_closes = 0;   // clients closed for holding the most input over --max-input-bytes
  uint64_t gets[2][3] = {};          // GET requests by Proto and Outcome
  uint64_t local_commands = 0;       // RESP commands the proxy answers itself
  uint64_t denied_commands = 0;      // refused by --deny-commands
  uint64_t stream_commands = 0;      // SUBSCRIBE / MONITOR / CLIENT REPLY that started a stream
  uint64_t mgets = 0;                // MGETs served through the cache
  uint64_t auth_failures = 0;        // HTTP requests refused for a missing or wrong password
  void countGet(Proto p, Outcome o) noexcept { ++gets[static_cast<int>(p)][static_cast<int>(o)]; }
};

// What the client layer asks of the layer above it.
class ClientHost {
 public:
  // The text of RESP INFO for section ("default", "all", or one section's name).
  virtual std::string info(std::string_view section) = 0;
  // The backend's Redis version (HELLO reports it), or the proxy's own before it is known.
  virtual std::string_view backendVersion() = 0;
  // Whether the backend speaks RESP3 (Redis 6 or later; assumed until its version is known).
  virtual bool backendResp3() = 0;
  // Draining (see drainAll) and the last connection has closed.
  virtual void onClientsDrained() = 0;

 protected:
  ~ClientHost() = default;
};

// What the sessions run requests on, owned by the server.
struct Services {
  proxy::ReadThrough& read_through;
  proxy::Forwarder& forwarder;
  backend::Upstream& shared;        // the shared pipelined link (RESP2: fills and RESP2 clients' commands)
  backend::Upstream& shared3;       // the shared RESP3 link: RESP3 clients' forwarded commands
  backend::PinnedPool& pinned;
  const resp::CommandTable& commands;
};

class Clients {
 public:
  // config is the server's, updated in place on reload: limits apply to the next request.
  Clients(Loop& loop, const Config& config, const Services& services, ClientHost& host);
  ~Clients();
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  // The listener has a connection: accepts it, or answers "max clients" and closes it.
  void accept(uv_stream_t* listener);
  // The end-of-turn pass: writes every connection with replies ready (flushing can run held-back
  // requests, which can make more replies: it repeats until none is left).
  void flushDirty();
  bool anyDirty() const noexcept { return !dirty_.empty(); }
  // Shutdown: each connection answers what it was asked, then closes; onClientsDrained follows.
  void drainAll();
  void closeAll();
  // Once a second: idle clients (--idle-timeout) and silent over-limit connections.
  void housekeeping(uint64_t now_ms);
  size_t count() const noexcept { return clients_; }  // connections that count against --max-clients

  // --- for connections and sessions
  Loop& loop() noexcept { return loop_; }
  const Config& config() const noexcept { return config_; }
  proxy::ReadThrough& readThrough() noexcept { return services_.read_through; }
  proxy::Forwarder& forwarder() noexcept { return services_.forwarder; }
  backend::Upstream& shared() noexcept { return services_.shared; }
  backend::Upstream& shared3() noexcept { return services_.shared3; }
  // The backend is a Redis Cluster: keys are routed by slot, SELECT refused, multi-slot commands split.
  bool clustered() const noexcept { return services_.shared.clustered(); }
  backend::PinnedPool& pinnedPool() noexcept { return services_.pinned; }
  const resp::CommandTable& commands() const noexcept { return services_.commands; }
  ClientHost& host() noexcept { return host_; }
  ClientStats& stats() noexcept { return stats_; }
  const ClientStats& stats() const noexcept { return stats_; }
  ReplyPool& replies() noexcept { return replies_; }
  std::string_view httpDate();
  // Where a connection gathers many small replies for one uv_try_write (synchronous, so one
  // buffer serves every connection in turn).
  static constexpr size_t kGatherBytes = 64 << 10;
  char* gatherBuffer() noexcept { return gather_buf_.data(); }
  void markDirty(Connection* c);
  void closed(Connection* c);
  // A connection's unparsed input went from before to now bytes; over --max-input-bytes in all,
  // the connections holding the most are closed until the total is back under it.
  void inputChanged(Connection* c, size_t before, size_t now);
  size_t inputBytes() const noexcept { return input_bytes_; }
  // CLIENT TRACKING on needs a backend connection of its own: at most --tracking-open-rate are
  // opened per second, all clients together (a client toggling tracking must not make the proxy
  // open connections to Redis as fast as it likes). False: refused for the rest of this second.
  bool takeTrackingOpen();

 private:
  static constexpr size_t kMaxRejecting = 256;  // connections being told "max clients" at once; more are just closed
  static constexpr uint64_t kRejectWaitMs = 1000;  // an over-limit client that sends nothing gets the RESP error after this
  static constexpr uint64_t kRejectWarnEveryMs = 1000;  // refusals are logged at most this often

  void warnRejected();

  Loop& loop_;
  const Config& config_;
  Services services_;
  ClientHost& host_;
  ClientStats stats_;
  ReplyPool replies_;
  http::DateCache date_;
  std::unordered_set<Connection*> connections_;
  std::vector<Connection*> dirty_;     // connections with replies to write this turn
  std::vector<Connection*> flushing_;  // the batch being written (kept to reuse its capacity)
  size_t clients_ = 0;     // accepted connections that count against --max-clients
  size_t rejecting_ = 0;   // connections being answered "max clients" and closed
  uint64_t next_id_ = 1;
  bool draining_ = false;
  uint64_t last_reject_warning_ms_ = 0;
  uint64_t tracking_window_ms_ = 0;  // start of the second tracking opens are counted in
  size_t tracking_opens_ = 0;        // opened in it
  uint64_t rejects_unlogged_ = 0;  // refusals since the last warning
  size_t input_bytes_ = 0;         // unparsed input of all connections
  bool shedding_ = false;          // inputChanged is closing connections
  std::array<char, kGatherBytes> gather_buf_;
};

}  // namespace rcp::client
