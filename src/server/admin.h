// The admin listener (--admin-port): a small HTTP/1.1 server, separate from the data port so no
// key can collide with it. GET /metrics (Prometheus text), /healthz (the process is alive),
// /readyz (200 only while the backend link is up). One request per connection, then close.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>

#include "http/response.h"
#include "src/base/loop.h"

namespace rcp {

// What the admin endpoints report, asked at each request.
struct AdminHooks {
  std::function<std::string()> metrics;    // the Prometheus text for /metrics
  std::function<std::string()> not_ready;  // empty when ready; otherwise why (/readyz answers 503)
};

class AdminServer {
 public:
  AdminServer(Loop& loop, AdminHooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; throws std::runtime_error when it cannot.
  void start(const std::string& bind, uint16_t port);
  // Closes the listener and every admin connection (frees them in their close callbacks).
  void close();

 private:
  struct Conn;
  static constexpr size_t kMaxConnections = 64;     // concurrent admin connections
  static constexpr uint64_t kReadDeadlineMs = 2000;  // a request must arrive whole this soon after connecting

  // Makes room for a new connection by closing the oldest one that has not sent its request.
  bool evictOldestSilent();
  void closeLate();  // timer: connections past kReadDeadlineMs without a request

  void onConnection(int status);
  void respond(Conn* c, int status, std::string_view content_type, std::string_view body);
  void closeConn(Conn* c);

  Loop& loop_;
  AdminHooks hooks_;
  http::DateCache date_;
  uv_tcp_t listener_;
  uv_timer_t deadline_timer_;
  bool listening_ = false;
  bool closed_ = false;
  std::unordered_set<Conn*> conns_;
  uint64_t accepted_ = 0;  // connections accepted so far (their order)
};

}  // namespace rcp
