// The per-loop server context (see server.h).
#include "src/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <csignal>
#include <ctime>
#include <stdexcept>

#include "src/admin.h"
#include "src/connection.h"
#include "src/logging.h"

namespace rcp {

namespace {
constexpr int kListenBacklog = 511;
constexpr size_t kMaxRejecting = 256;  // connections being told "max clients" at once; more are just closed
constexpr uint64_t kHousekeepingMs = 1000;
constexpr uint64_t kRejectWaitMs = 1000;  // an over-limit client that sends nothing gets the RESP error after this
constexpr uint64_t kAcceptWarnEveryMs = 1000;
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
  for (uv_timer_t* t : {&sweep_timer_, &housekeeping_timer_, &shutdown_timer_}) {
    uv_timer_init(loop_, t);
    t->data = this;
  }
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
  uv_timer_start(&housekeeping_timer_, [](uv_timer_t* t) noexcept { static_cast<Server*>(t->data)->onHousekeeping(); },
                 kHousekeepingMs, kHousekeepingMs);
  int signums[3] = {SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < signals_.size(); ++i) {
    uv_signal_start(&signals_[i], [](uv_signal_t* h, int signum) noexcept {
      Server* s = static_cast<Server*>(h->data);
      if (signum == SIGHUP) {
        s->reload();
        return;
      }
      spdlog::info("signal {}: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
      s->shutdown();
    }, signums[i]);
  }
  if (config_.admin_port != 0) {
    admin_ = std::make_unique<AdminServer>(*this);
    admin_->start(config_.admin_bind, config_.admin_port);
  }
  backend_->start();
}

void Server::shutdown() {
  if (stopping_) {
    closeAll();  // a second signal: do not wait
    return;
  }
  stopping_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->drain();
  if (connections_.empty()) {
    closeAll();
    return;
  }
  spdlog::info("draining {} connection(s), at most {} ms", connections_.size(), config_.shutdown_timeout_ms);
  uv_timer_start(&shutdown_timer_, [](uv_timer_t* t) noexcept {
    spdlog::warn("shutdown timeout: closing the remaining connections");
    static_cast<Server*>(t->data)->closeAll();
  }, config_.shutdown_timeout_ms, 0);
}

void Server::closeAll() {
  if (closed_) return;
  closed_ = stopping_ = true;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->close();
  if (admin_ != nullptr) admin_->close();
  backend_->close();  // fails what is in flight; the orphaned slots are freed there
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&check_), reinterpret_cast<uv_handle_t*>(&idle_),
                         reinterpret_cast<uv_handle_t*>(&sweep_timer_), reinterpret_cast<uv_handle_t*>(&housekeeping_timer_),
                         reinterpret_cast<uv_handle_t*>(&shutdown_timer_)})
    uv_close(h, nullptr);
  for (auto& s : signals_) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
}

void Server::reload() {
  Config fresh;
  try {
    parseConfig(args_, [](const char* n) { return std::getenv(n); }, fresh);
  } catch (const ConfigError& e) {
    spdlog::error("SIGHUP: configuration not reloaded: {}", e.what());
    return;
  }
  for (const std::string& flag : restartOnlyChanges(config_, fresh))
    spdlog::warn("SIGHUP: {} changed; it takes effect only after a restart", flag);
  // Everything else applies now: the cache at once, limits to the next request or connection.
  config_.cache_keys = fresh.cache_keys;
  config_.ttl_ms = fresh.ttl_ms;
  config_.max_clients = fresh.max_clients;
  config_.max_inflight = fresh.max_inflight;
  config_.backend_timeout_ms = fresh.backend_timeout_ms;
  config_.log_level = fresh.log_level;
  config_.max_key_bytes = fresh.max_key_bytes;
  config_.max_pending = fresh.max_pending;
  config_.max_output_bytes = fresh.max_output_bytes;
  config_.idle_timeout_ms = fresh.idle_timeout_ms;
  config_.shutdown_timeout_ms = fresh.shutdown_timeout_ms;
  cache_.setTtl(config_.ttl_ms);
  cache_.setCapacity(config_.cache_keys);
  spdlog::set_level(spdlog::level::from_str(config_.log_level));
  spdlog::info("SIGHUP: configuration reloaded: {}", describe(config_));
}

void Server::onHousekeeping() {
  uint64_t now = nowMs();
  if (config_.idle_timeout_ms == 0 && rejecting_ == 0) return;
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->closeIfIdle(now, config_.idle_timeout_ms, kRejectWaitMs);
}

std::string_view Server::httpDate() { return date_.get(std::time(nullptr)); }

void Server::onConnection(int status) {
  if (status != 0) {
    // Out of file descriptors, typically: libuv has already accepted and closed the pending
    // connection (its reserve-fd trick), so the loop does not spin. Warn at most once a second.
    ++stats_.accept_errors;
    uint64_t now = nowMs();
    if (now - last_accept_warning_ms_ >= kAcceptWarnEveryMs || last_accept_warning_ms_ == 0) {
      last_accept_warning_ms_ = now;
      spdlog::warn("accept: {} ({} failed so far)", uv_strerror(status), stats_.accept_errors);
    }
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
  if (stopping_ && connections_.empty()) closeAll();  // drained
}

void Server::markDirty(Connection* c) {
  if (!c->dirty) {
    c->dirty = true;
    dirty_.push_back(c);
  }
  requestFlush();
}

void Server::requestFlush() noexcept {
  if (!flush_armed_ && !closed_) {
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
  if (flush_armed_ && !closed_) {
    flush_armed_ = false;
    uv_idle_stop(&idle_);
  }
}

}  // namespace rcp
