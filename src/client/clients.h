// The client side of the proxy: every client connection, what they share (the reply pool, the
// gather buffer, the HTTP date, the counters, the session context), and the end-of-turn write pass
// over the connections that have replies to send. The server owns one and hands it accepted
// sockets. It is each connection's owner (ConnectionOwner) and makes its protocol session; the
// sessions see only the SessionContext it builds.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <memory>

#include "http/response.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/client/connection.h"
#include "src/client/reply.h"
#include "src/client/session_context.h"

namespace rcp::client {

class Connection;

// What the sessions run requests on, owned by the server.
struct Services {
  proxy::ReadThrough& read_through;
  proxy::Forwarder& forwarder;
  backend::Upstream& shared;        // the shared pipelined link (RESP2: fills and RESP2 clients' commands)
  backend::Upstream& shared3;       // the shared RESP3 link: RESP3 clients' forwarded commands
  backend::PinnedPool& pinned;
  const resp::CommandTable& commands;
};

class Clients final : private ConnectionOwner, private ClientDirectory {
 public:
  // config is the server's, updated in place on reload: limits apply to the next request.
  Clients(Loop& loop, const Config& config, const Services& services, ClientHost& host);
  ~Clients();
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  // The listener has a connection: accepts it, or answers "max clients" and closes it.
  // listener: its kind of socket and TLS context (the one current when the connection arrives).
  void accept(uv_stream_t* listener, const Listener& kind = {});
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

  size_t inputBytes() const noexcept { return input_bytes_; }
  const ClientStats& stats() const noexcept { return stats_; }
  // The clients' CLIENT TRACKING (the server feeds it Redis's changes and wires its readiness).
  TrackingHub& tracking() noexcept { return tracking_; }
  const TrackingHub& tracking() const noexcept { return tracking_; }

 private:
  static constexpr size_t kMaxRejecting = 256;  // connections being told "max clients" at once; more are just closed
  static constexpr uint64_t kRejectWaitMs = 1000;  // an over-limit client that sends nothing gets the RESP error after this
  static constexpr uint64_t kRejectWarnEveryMs = 1000;  // refusals are logged at most this often

  void warnRejected();
  // ClientDirectory
  std::vector<ClientInfo> clients() override;
  void kill(const std::vector<uint64_t>& ids, uint64_t caller) override;
  bool blocked(uint64_t id, long long* redis_id, int32_t* slot) override;
  // ConnectionOwner
  std::vector<Connection*>& dirtyList() noexcept override { return dirty_; }
  void closed(Connection* c) override;
  // A connection's unparsed input went from before to now bytes; over --max-input-bytes in all,
  // the connections holding the most are closed until the total is back under it.
  void inputChanged(Connection* c, size_t before, size_t now) override;
  std::unique_ptr<Session> makeSession(Connection& c, bool http) override;
  char* gatherBuffer() noexcept override { return gather_buf_.data(); }

  Loop& loop_;
  const Config& config_;
  ClientHost& host_;
  ClientStats stats_;
  ReplyPool replies_;
  http::DateCache date_;
  TrackingHub tracking_;
  SessionContext context_;  // what sessions see: the references above and the services
  std::unordered_set<Connection*> connections_;
  std::vector<Connection*> dirty_;     // connections with replies to write this turn
  std::vector<Connection*> flushing_;  // the batch being written (kept to reuse its capacity)
  size_t clients_ = 0;     // accepted connections that count against --max-clients
  size_t rejecting_ = 0;   // connections being answered "max clients" and closed
  uint64_t next_id_ = 1;
  bool draining_ = false;
  uint64_t last_reject_warning_ms_ = 0;
  uint64_t rejects_unlogged_ = 0;  // refusals since the last warning
  size_t input_bytes_ = 0;         // unparsed input of all connections
  bool shedding_ = false;          // inputChanged is closing connections
  std::array<char, kGatherBytes> gather_buf_;
};

}  // namespace rcp::client
