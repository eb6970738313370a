// The per-loop server context (see server.h).
#include "src/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <csignal>
#include <ctime>
#include <stdexcept>

#include "src/connection.h"

namespace rcp {

namespace {
constexpr int kListenBacklog = 511;
constexpr size_t kMaxRejecting = 256;  // connections being told "max clients" at once; more are just closed
}  // namespace

Server::Server(uv_loop_t* loop, Config config)
    : loop_(loop), config_(std::move(config)), cache_(config_.cache_keys, config_.ttl_ms), read_through_(*this) {
  backend_ = std::make_unique<Backend>(*this);
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_idle_init(loop_, &idle_);
  idle_.data = this;
  uv_timer_init(loop_, &sweep_timer_);
  sweep_timer_.data = this;
  for (auto& s : signals_) {
    uv_signal_init(loop_, &s);
    s.data = this;
  }
}

Server::~Server() {
  assert(connections_.empty());
  assert(read_through_.inflight() == 0);
}

void Server::start() {
  started_ms_ = uv_now(loop_);
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(config_.bind.c_str(), config_.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) rc = uv_ip6_addr(config_.bind.c_str(), config_.port, reinterpret_cast<sockaddr_in6*>(&addr));
  if (rc != 0) throw std::runtime_error("--bind: '" + config_.bind + "' is not an IPv4 or IPv6 address");
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kListenBacklog, [](uv_stream_t* s, int status) noexcept {
      static_cast<Server*>(s->data)->onConnection(status);
    });
  }
  if (rc != 0) {
    throw std::runtime_error("cannot listen on " + config_.bind + ":" + std::to_string(config_.port) + ": " +
                             uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  bound_port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  uv_check_start(&check_, [](uv_check_t* h) noexcept { static_cast<Server*>(h->data)->onCheck(); });
  uv_timer_start(&sweep_timer_, [](uv_timer_t* t) noexcept {
    Server* s = static_cast<Server*>(t->data);
    s->cache_.sweep(s->nowMs(), kSweepMaxEntries);
  }, kSweepIntervalMs, kSweepIntervalMs);
  int signums[2] = {SIGINT, SIGTERM};
  for (size_t i = 0; i < signals_.size(); ++i) {
    uv_signal_start(&signals_[i], [](uv_signal_t* h, int signum) noexcept {
      spdlog::info("signal {}: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
      static_cast<Server*>(h->data)->shutdown();
    }, signums[i]);
  }
  backend_->start();
}

void Server::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->close();
  backend_->close();  // fails what is in flight; the orphaned slots are freed there
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), nullptr);
  for (auto& s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
}

std::string_view Server::httpDate() { return date_.get(std::time(nullptr)); }

void Server::onConnection(int status) {
  if (status != 0) {
    spdlog::warn("accept: {}", uv_strerror(status));
    return;
  }
  bool reject = clients_ >= config_.max_clients;
  auto* c = new Connection(*this, next_id_++, reject);
  int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(c->tcp()));
  connections_.insert(c);
  ++stats_.connections_received;
  if (reject) {
    ++stats_.rejected_connections;
    ++rejecting_;
  } else {
    ++clients_;
  }
  if (rc != 0) {
    spdlog::warn("accept: {}", uv_strerror(rc));
    c->close();
    return;
  }
  if (reject) {
    if (rejecting_ > kMaxRejecting) {
      c->close();
      return;
    }
    spdlog::warn("max number of clients reached ({}): rejecting a connection", config_.max_clients);
  }
  if (c->start() != 0) c->close();
}

void Server::connectionClosed(Connection* c) {
  connections_.erase(c);
  if (c->rejecting()) --rejecting_;
  else --clients_;
  if (c->dirty) dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
}

void Server::markDirty(Connection* c) {
  if (!c->dirty) {
    c->dirty = true;
    dirty_.push_back(c);
  }
  requestFlush();
}

void Server::requestFlush() noexcept {
  if (!flush_armed_ && !stopping_) {
    flush_armed_ = true;
    uv_idle_start(&idle_, [](uv_idle_t*) noexcept {});
  }
}

void Server::onCheck() {
  // Flushing a connection can run requests it held back, which can make more connections dirty
  // and queue more backend output: repeat until quiet.
  do {
    while (!dirty_.empty()) {
      flushing_.swap(dirty_);
      for (Connection* c : flushing_) {
        c->dirty = false;
        c->flush();
      }
      flushing_.clear();
    }
    backend_->flush();  // a failed write fails requests, which can dirty connections again
  } while (!dirty_.empty());
  if (flush_armed_ && !stopping_) {
    flush_armed_ = false;
    uv_idle_stop(&idle_);
  }
}

}  // namespace rcp
