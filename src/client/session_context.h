// What a protocol session may touch, named: the live configuration it reads, the loop's clock, the
// counters it bumps, what it runs requests on (the read-through, the forwarder, the shared links,
// the pinned pool, the command table) and what it asks of the server (ClientHost). The client set
// builds one and hands it to every session; a session sees nothing else of the client set.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "http/response.h"
#include "resp/commands.h"
#include "src/backend/pinned.h"
#include "src/backend/upstream.h"
#include "src/client/client_registry.h"
#include "src/client/tracking_hub.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"

namespace rcp::client {

enum class Proto : uint8_t { kResp = 0, kHttp = 1 };
enum class Outcome : uint8_t { kHit = 0, kMiss = 1, kError = 2 };

struct ClientStats {
  uint64_t connections_received = 0;  // accepted, including rejected ones
  uint64_t rejected_connections = 0;  // over --max-clients
  uint64_t protected_denied = 0;     // refused by protected mode (a non-loopback client, no --requirepass)
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

struct SessionContext {
  Loop& loop;
  const Config& config;                 // the server's, updated in place on reload
  ClientStats& stats;
  ClientHost& host;
  proxy::ReadThrough& read_through;
  proxy::Forwarder& forwarder;
  backend::Upstream& shared;            // the shared pipelined link (RESP2: fills and RESP2 clients' commands)
  backend::Upstream& shared3;           // the shared RESP3 link: RESP3 clients' forwarded commands
  backend::PinnedPool& pinned;
  const resp::CommandTable& commands;
  http::DateCache& date;
  TrackingHub& tracking;                // the clients' CLIENT TRACKING, served by the proxy
  ClientDirectory& directory;           // every client of the proxy: CLIENT LIST, CLIENT KILL

  // The backend is a Redis Cluster: keys are routed by slot, SELECT refused, multi-slot commands split.
  bool clustered() const noexcept { return shared.clustered(); }
  std::string_view httpDate() const { return date.get(std::time(nullptr)); }
};

}  // namespace rcp::client
