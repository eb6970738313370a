// The server: owns everything on the loop and wires the layers together, each getting only what
// it needs: the listener and the client set (src/client), the read-through (src/proxy), the
// upstream policy (src/backend), the cache, plus signals, timers, reload and the admin listener.
// Owns every handle it starts and frees them only in their close callbacks.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/lru_cache.h"
#include "resp/commands.h"
#include "src/backend/topology_upstream.h"
#include "src/backend/pinned.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/client/clients.h"
#include "src/net/tls_context.h"
#include "src/proxy/backend_facts.h"
#include "src/proxy/coherence.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"
#include "src/server/metrics.h"

namespace rcp {

class AdminServer;

class Server final : private client::ClientHost {
 public:
  Server(uv_loop_t* loop, Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the backend link. Throws std::runtime_error when it cannot listen.
  void start();
  // First call: stops accepting, lets every connection finish the requests it sent (up to
  // --shutdown-timeout), then closes everything; uv_run then returns. A second call closes at once.
  void shutdown();
  // SIGHUP: re-reads flags, environment and the config file; applies what can change at run time.
  void reload();
  void setArgs(std::vector<std::string> args) { args_ = std::move(args); }
  uint16_t boundPort() const noexcept { return bound_port_; }
  uint16_t boundTlsPort() const noexcept { return bound_tls_port_; }

  // --- what the metrics read
  const Config& config() const noexcept { return config_; }
  const LruCache& cache() const noexcept { return cache_; }
  const proxy::ReadThrough& readThrough() const noexcept { return read_through_; }
  const backend::TopologyUpstream& upstream() const noexcept { return *upstream_; }
  const backend::TopologyUpstream& upstream3() const noexcept { return *upstream3_; }
  const backend::PinnedPool& pinned() const noexcept { return pinned_; }
  const proxy::Forwarder& forwarder() const noexcept { return forwarder_; }
  const proxy::BackendFacts& backendFacts() const noexcept { return facts_; }
  const proxy::Coherence& coherence() const noexcept { return coherence_; }
  const client::Clients& clients() const noexcept { return clients_; }
  const net::TlsEndpoint& tlsClients() const noexcept { return tls_clients_; }
  const net::TlsEndpoint& tlsBackend() const noexcept { return tls_backend_; }
  uint64_t uptimeMs() const noexcept { return loop_.nowMs() - started_ms_; }
  uint64_t acceptErrors() const noexcept { return accept_errors_; }
  // What /metrics and INFO render (metrics.h).
  MetricSources metricSources() const;

 private:
  static constexpr uint64_t kSweepIntervalMs = 100;  // active expiry period
  static constexpr size_t kSweepMaxEntries = 1000;   // entries examined per period, from the cold end

  // client::ClientHost
  std::string info(std::string_view section) override;
  std::string_view backendVersion() override;
  bool backendResp3() override;
  void onClientsDrained() override;

  // One listening socket: plaintext TCP, TLS, or a Unix socket.
  struct ListenSocket {
    Server* server = nullptr;
    client::Listener kind;
    union {
      uv_handle_t handle;
      uv_stream_t stream;
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } h;
    bool open = false;
    bool bound = false;  // a Unix socket: its file is ours to remove at shutdown
  };
  enum : size_t { kPlain = 0, kTls = 1, kUnix = 2 };

  void listen();
  uint16_t listenTcp(ListenSocket& ls, uint16_t port);
  void listenUnix(ListenSocket& ls);
  void closeListeners();
  // Builds the TLS contexts from the configuration: at start a failure throws; on reload it is
  // logged and the context in use stays.
  void loadTls(bool at_start);
  void startTimersAndSignals();
  void wireClientTracking();
  static void onListenCb(uv_stream_t* s, int status) noexcept;
  void onConnection(ListenSocket& ls, int status);
  void onTurnEnd();
  void closeAll();

  Loop loop_;
  Config config_;
  net::TlsEndpoint tls_clients_;  // the TLS listener's context (--tls-cert-file...), swapped on reload
  net::TlsEndpoint tls_backend_;  // rediss://: the links' context (--backend-tls-...), swapped on reload
  LruCache cache_;
  std::unique_ptr<backend::TopologyUpstream> upstream_;   // one Redis, or a Redis Cluster's primaries
  std::unique_ptr<backend::TopologyUpstream> upstream3_;  // RESP3 clients' forwarded commands; opened at first use
  proxy::ReadThrough read_through_;
  proxy::Coherence coherence_;
  proxy::Forwarder forwarder_;
  backend::PinnedPool pinned_;
  resp::CommandTable commands_;
  proxy::BackendFacts facts_;
  client::Clients clients_;
  std::array<ListenSocket, 3> listeners_;
  uv_timer_t sweep_timer_;
  uv_timer_t housekeeping_timer_;  // once a second: idle clients, silent rejected connections
  uv_timer_t shutdown_timer_;      // the --shutdown-timeout deadline
  std::array<uv_signal_t, 3> signals_;   // SIGINT, SIGTERM, SIGHUP
  std::unique_ptr<AdminServer> admin_;
  std::vector<std::string> args_;        // the command line, re-read on SIGHUP
  uint64_t started_ms_ = 0;
  uint64_t accept_errors_ = 0;           // failed accepts (e.g. out of file descriptors)
  uint64_t last_accept_warning_ms_ = 0;
  uint16_t bound_port_ = 0;
  uint16_t bound_tls_port_ = 0;
  bool stopping_ = false;  // draining after the first signal
  bool closed_ = false;    // every handle closed
};

}  // namespace rcp
