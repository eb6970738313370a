// The per-loop context: listener, client connections, cache, read-through table, backend link,
// counters. Everything runs on one libuv loop thread; no locks. Owns every handle it starts and
// frees them only in their close callbacks.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "cache/lru_cache.h"
#include "http/response.h"
#include "src/backend.h"
#include "src/config.h"
#include "src/read_through.h"
#include "src/metrics.h"
#include "src/slot.h"

namespace rcp {

class Connection;

struct ServerStats {
  uint64_t connections_received = 0;  // accepted, including rejected ones
  uint64_t rejected_connections = 0;  // over --max-clients
  uint64_t resp_connections = 0;
  uint64_t http_connections = 0;
  uint64_t resp_requests = 0;
  uint64_t http_requests = 0;
  uint64_t protocol_errors = 0;
  uint64_t unknown_commands = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t idle_closes = 0;          // clients closed by --idle-timeout
  uint64_t output_limit_closes = 0;  // clients closed for not reading (--max-output-bytes)
  uint64_t accept_errors = 0;        // failed accepts (e.g. out of file descriptors)
  uint64_t gets[2][3] = {};          // GET requests by Proto and Outcome (metrics.h)
  uint64_t local_commands = 0;       // RESP commands the proxy answers itself
};

class Server {
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

  uv_loop_t* loop() const noexcept { return loop_; }
  const Config& config() const noexcept { return config_; }
  LruCache& cache() noexcept { return cache_; }
  ReadThrough& readThrough() noexcept { return read_through_; }
  Backend& backend() noexcept { return *backend_; }
  SlotPool& slots() noexcept { return slots_; }
  ServerStats& stats() noexcept { return stats_; }
  uint64_t nowMs() const noexcept { return uv_now(loop_); }
  uint64_t startedMs() const noexcept { return started_ms_; }
  std::string_view httpDate();
  size_t clients() const noexcept { return clients_; }
  uint16_t boundPort() const noexcept { return bound_port_; }

  // The shared input buffer: reads are processed before the next read is allocated.
  uv_buf_t readBuffer() noexcept { return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size())); }
  // The shared output buffer where a connection gathers many small replies for one uv_try_write
  // (synchronous, so one buffer serves every connection in turn).
  static constexpr size_t kGatherBytes = 16 << 10;
  char* gatherBuffer() noexcept { return gather_buf_.data(); }

  // Queues c for a write at the end of this loop turn.
  void markDirty(Connection* c);
  // Makes sure the end-of-turn pass runs (backend output queued).
  void requestFlush() noexcept;
  void connectionClosed(Connection* c);
  void countGet(bool http, Outcome o) noexcept { ++stats_.gets[http ? 1 : 0][static_cast<int>(o)]; }
  // SIGHUP: re-reads flags, environment and the config file; applies what can change at run time.
  void reload();
  void setArgs(std::vector<std::string> args) { args_ = std::move(args); }

 private:
  static constexpr size_t kReadBufferBytes = 64 << 10;
  static constexpr uint64_t kSweepIntervalMs = 100;   // active expiry period
  static constexpr size_t kSweepMaxEntries = 1000;    // entries examined per period, from the cold end

  void onConnection(int status);
  void onCheck();
  void onHousekeeping();
  void closeAll();
  void applyLogLevel();

  uv_loop_t* loop_;
  Config config_;
  LruCache cache_;
  SlotPool slots_;
  ReadThrough read_through_;
  std::unique_ptr<Backend> backend_;
  ServerStats stats_;
  uv_tcp_t listener_;
  uv_check_t check_;       // end of every loop turn: flush dirty connections and the backend
  uv_idle_t idle_;         // armed while a flush is due, so the loop does not block before check_ runs
  bool flush_armed_ = false;
  uv_timer_t sweep_timer_;
  uv_timer_t housekeeping_timer_;  // once a second: idle clients, silent rejected connections
  uv_timer_t shutdown_timer_;      // the --shutdown-timeout deadline
  std::array<uv_signal_t, 3> signals_;   // SIGINT, SIGTERM, SIGHUP
  std::unique_ptr<class AdminServer> admin_;
  std::vector<std::string> args_;        // the command line, re-read on SIGHUP
  std::vector<Connection*> dirty_;     // connections with replies to write this turn
  std::vector<Connection*> flushing_;  // the batch being written (kept to reuse its capacity)
  std::unordered_set<Connection*> connections_;
  size_t clients_ = 0;     // accepted connections that count against --max-clients
  size_t rejecting_ = 0;   // connections being answered "max clients" and closed
  uint64_t next_id_ = 1;
  uint64_t started_ms_ = 0;
  uint16_t bound_port_ = 0;
  bool stopping_ = false;  // draining after the first signal
  bool closed_ = false;    // every handle closed
  uint64_t last_accept_warning_ms_ = 0;
  http::DateCache date_;
  std::array<char, kReadBufferBytes> read_buf_;
  std::array<char, kGatherBytes> gather_buf_;
};

}  // namespace rcp
