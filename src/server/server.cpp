// The server (see server.h).
#include "src/server/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

#include <sys/stat.h>
#include <unistd.h>

#include "src/server/admin.h"
#include "src/server/fd_limit.h"
#include "src/server/metrics.h"

namespace rcp {

namespace {
constexpr int kListenBacklog = 511;
constexpr uint64_t kHousekeepingMs = 1000;
constexpr uint64_t kAcceptWarnEveryMs = 1000;
}  // namespace

Server::Server(uv_loop_t* loop, Config config)
    : loop_(loop), config_(std::move(config)), cache_(config_.cache_keys, config_.ttl_ms),
      upstream_(std::make_unique<backend::TopologyUpstream>(loop_, config_, false, nullptr, &tls_backend_)),
      upstream3_(std::make_unique<backend::TopologyUpstream>(loop_, config_, true, upstream_.get())),
      read_through_(loop_, cache_, *upstream_, config_),
      coherence_(loop_, config_, read_through_, *upstream_, &tls_backend_),
      forwarder_(read_through_), pinned_(loop_, config_, upstream_.get(), &tls_backend_),
      facts_(*upstream_, commands_, config_),
      clients_(loop_, config_, client::Services{read_through_, forwarder_, *upstream_, *upstream3_, pinned_, commands_}, *this) {
  for (ListenSocket& ls : listeners_) ls.server = this;
  wireClientTracking();
  // A Sentinel-announced failover: nothing read from the old primary is served again (its writes
  // may not have reached the new one), and connections pinned to it are gone.
  upstream_->onSwitched([this] {
    read_through_.invalidateAllBy(proxy::ReadThrough::DropCause::kFailover);
    pinned_.closeAll("the primary failed over (Sentinel): the connection's state is gone");
  });
  upstream_->onFenced([this] { pinned_.closeAll("the primary is being replaced (Sentinel): the connection's state is gone"); });
  for (uv_timer_t* t : {&sweep_timer_, &housekeeping_timer_, &shutdown_timer_}) {
    uv_timer_init(loop, t);
    t->data = this;
  }
  for (auto& s : signals_) {
    uv_signal_init(loop, &s);
    s.data = this;
  }
}

Server::~Server() {
  // The clients (and their tracking hub) go before the layers that call it.
  read_through_.setListener(nullptr);
  pinned_.onTrackingLost({});
  coherence_.setClientHooks({});
}

// The clients' CLIENT TRACKING (client/tracking_hub.h) is served from what the proxy's own tracking
// learns: every change the read-through hears of, the RESP3 links' reads tracked too, BCAST
// prefixes reported by a link per node, and a null to every tracking client when coverage is lost.
void Server::wireClientTracking() {
  client::TrackingHub& hub = clients_.tracking();
  read_through_.setListener(&hub);
  coherence_.trackAlso(*upstream3_);
  coherence_.setClientHooks({[&hub] { hub.allChanged(); }, [&hub] { hub.bcastCovered(); }});
  hub.setReadiness([this](std::string* why) { return coherence_.clientTrackingReady(why); });
  hub.setRedirectSource([this](const std::string& host, uint16_t port) { return coherence_.redirectFor(host, port); });
  pinned_.onTrackingLost([&hub](const std::vector<uint64_t>& ids) { hub.nullFor(ids); });
  hub.onPrefixesChanged([this](const std::vector<std::string>& p) { coherence_.setClientPrefixes(p); });
}


void Server::start() {
  started_ms_ = loop_.nowMs();
  cache_.setGrace(config_.stale_if_error_ms);
  loadTls(true);
  listen();
  loop_.start([](void* ctx) noexcept { static_cast<Server*>(ctx)->onTurnEnd(); }, this);
  startTimersAndSignals();
  if (config_.admin_port != 0) {
    AdminHooks hooks;
    hooks.metrics = [this] { return prometheusText(metricSources()); };
    hooks.not_ready = [this] { return upstream_->up() ? std::string() : std::string("backend ") + upstream_->stateName(); };
    admin_ = std::make_unique<AdminServer>(loop_, std::move(hooks));
    admin_->start(config_.admin_bind, config_.admin_port);
  }
  coherence_.start();
  upstream_->start();
  upstream3_->start();
  pinned_.start();
}

void Server::loadTls(bool at_start) {
  using Auth = net::TlsServerSettings::Auth;
  if (config_.tls_port != 0) {
    net::TlsServerSettings s;
    s.cert_file = config_.tls_cert_file;
    s.key_file = config_.tls_key_file;
    s.ca_file = config_.tls_ca_cert_file;
    s.auth_clients = config_.tls_auth_clients == "yes"        ? Auth::kYes
                     : config_.tls_auth_clients == "optional" ? Auth::kOptional
                                                              : Auth::kNo;
    s.protocols = config_.tls_protocols;
    s.ciphers = config_.tls_ciphers;
    s.ciphersuites = config_.tls_ciphersuites;
    std::string error;
    if (net::SslCtxPtr ctx = net::makeServerContext(s, &error)) {
      tls_clients_.replace(std::move(ctx));
    } else if (at_start) {
      throw std::runtime_error("TLS: " + error);
    } else {
      ++tls_clients_.reload_failures;
      spdlog::error("SIGHUP: the TLS listener keeps its certificate: {}", error);
    }
  }
  bool sentinel_tls = std::any_of(config_.sentinels.begin(), config_.sentinels.end(),
                                  [](const BackendAddress& a) { return a.tls; });
  if (config_.backend_tls || sentinel_tls) {
    net::TlsClientSettings s;
    s.ca_file = config_.backend_tls_ca_cert_file;
    s.cert_file = config_.backend_tls_cert_file;
    s.key_file = config_.backend_tls_key_file;
    s.insecure = config_.backend_tls_insecure;
    s.protocols = config_.tls_protocols;
    std::string error;
    if (net::SslCtxPtr ctx = net::makeClientContext(s, &error)) {
      tls_backend_.replace(std::move(ctx));
      tls_backend_.server_name = config_.backend_tls_server_name;
      tls_backend_.verify_name = !config_.backend_tls_insecure;
      if (config_.backend_tls_insecure)
        spdlog::warn("--backend-tls-insecure: Redis's certificate is NOT verified (anyone on the path can read and "
                     "change the traffic)");
    } else if (at_start) {
      throw std::runtime_error("TLS to Redis: " + error);
    } else {
      ++tls_backend_.reload_failures;
      spdlog::error("SIGHUP: the links to Redis keep their TLS settings: {}", error);
    }
  }
}

void Server::listen() {
  if (config_.port != 0) bound_port_ = listenTcp(listeners_[kPlain], config_.port);
  if (config_.tls_port != 0) {
    listeners_[kTls].kind.tls_stats = &tls_clients_.stats;
    bound_tls_port_ = listenTcp(listeners_[kTls], config_.tls_port);
  }
  if (!config_.unixsocket.empty()) listenUnix(listeners_[kUnix]);
}

uint16_t Server::listenTcp(ListenSocket& ls, uint16_t port) {
  uv_tcp_init(loop_.uv(), &ls.h.tcp);
  ls.h.handle.data = &ls;
  ls.open = true;
  ls.kind.kind = net::Stream::Kind::kTcp;
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(config_.bind.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) rc = uv_ip6_addr(config_.bind.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
  if (rc != 0) throw std::runtime_error("--bind: '" + config_.bind + "' is not an IPv4 or IPv6 address");
  rc = uv_tcp_bind(&ls.h.tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(&ls.h.stream, kListenBacklog, onListenCb);
  if (rc != 0)
    throw std::runtime_error("cannot listen on " + config_.bind + ":" + std::to_string(port) + ": " + uv_strerror(rc));
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&ls.h.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void Server::listenUnix(ListenSocket& ls) {
  uv_pipe_init(loop_.uv(), &ls.h.pipe, 0);
  ls.h.handle.data = &ls;
  ls.open = true;
  ls.kind.kind = net::Stream::Kind::kUnix;
  const std::string& path = config_.unixsocket;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());  // a stale socket, as Redis does
  int rc = uv_pipe_bind(&ls.h.pipe, path.c_str());
  ls.bound = rc == 0;  // a path that is not ours (a regular file, another process's socket) is never removed
  if (rc == 0 && config_.unixsocketperm != 0 && chmod(path.c_str(), static_cast<mode_t>(config_.unixsocketperm)) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0) rc = uv_listen(&ls.h.stream, kListenBacklog, onListenCb);
  if (rc != 0) throw std::runtime_error("cannot listen on --unixsocket " + path + ": " + uv_strerror(rc));
}

void Server::onListenCb(uv_stream_t* s, int status) noexcept {
  auto* ls = static_cast<ListenSocket*>(s->data);
  ls->server->onConnection(*ls, status);
}

void Server::closeListeners() {
  for (ListenSocket& ls : listeners_) {
    if (!ls.open || uv_is_closing(&ls.h.handle)) continue;
    uv_close(&ls.h.handle, nullptr);
    if (ls.bound) unlink(config_.unixsocket.c_str());
  }
}

void Server::startTimersAndSignals() {
  uv_timer_start(&sweep_timer_, [](uv_timer_t* t) noexcept {
    Server* s = static_cast<Server*>(t->data);
    s->cache_.sweep(s->loop_.nowMs(), kSweepMaxEntries);
  }, kSweepIntervalMs, kSweepIntervalMs);
  uv_timer_start(&housekeeping_timer_, [](uv_timer_t* t) noexcept {
    Server* s = static_cast<Server*>(t->data);
    s->clients_.housekeeping(s->loop_.nowMs());
  }, kHousekeepingMs, kHousekeepingMs);
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
}

void Server::shutdown() {
  if (stopping_) {
    closeAll();  // a second signal: do not wait
    return;
  }
  stopping_ = true;
  closeListeners();
  clients_.drainAll();  // calls onClientsDrained once the last connection has closed
  if (closed_) return;
  spdlog::info("draining client connections, at most {} ms", config_.shutdown_timeout_ms);
  uv_timer_start(&shutdown_timer_, [](uv_timer_t* t) noexcept {
    spdlog::warn("shutdown timeout: closing the remaining connections");
    static_cast<Server*>(t->data)->closeAll();
  }, config_.shutdown_timeout_ms, 0);
}

void Server::onClientsDrained() {
  if (stopping_) closeAll();
}

void Server::closeAll() {
  if (closed_) return;
  closed_ = stopping_ = true;
  closeListeners();
  clients_.closeAll();
  if (admin_ != nullptr) admin_->close();
  upstream_->close();  // fails what is in flight; replies of closed connections are freed there
  upstream3_->close();
  coherence_.close();
  pinned_.close();
  loop_.close();
  for (uv_timer_t* t : {&sweep_timer_, &housekeeping_timer_, &shutdown_timer_})
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
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
  if (fresh.max_clients > config_.max_clients) raiseOpenFilesLimit(fresh.max_clients);
  applyReloadable(config_, fresh);
  cache_.setTtl(config_.ttl_ms);
  cache_.setCapacity(config_.cache_keys);
  cache_.setGrace(config_.stale_if_error_ms);
  coherence_.cacheChanged();
  loadTls(false);  // new connections get the new certificates; open ones keep theirs
  spdlog::set_level(spdlog::level::from_str(config_.log_level));
  spdlog::info("SIGHUP: configuration reloaded: {}", describe(config_));
}

void Server::onConnection(ListenSocket& ls, int status) {
  if (status != 0) {
    // Out of file descriptors, typically: libuv has already accepted and closed the pending
    // connection (its reserve-fd trick), so the loop does not spin. Warn at most once a second.
    ++accept_errors_;
    uint64_t now = loop_.nowMs();
    if (now - last_accept_warning_ms_ >= kAcceptWarnEveryMs || last_accept_warning_ms_ == 0) {
      last_accept_warning_ms_ = now;
      spdlog::warn("accept: {} ({} failed so far)", uv_strerror(status), accept_errors_);
    }
    return;
  }
  client::Listener kind = ls.kind;
  if (kind.tls_stats != nullptr) kind.tls = tls_clients_.ctx();  // the context current now
  clients_.accept(&ls.h.stream, kind);
}

// The end of a loop turn: write every client with replies ready, then the backend commands the
// turn queued. A failed backend write fails requests, which can make replies ready: repeat.
void Server::onTurnEnd() {
  do {
    clients_.flushDirty();
    upstream_->flush();
    upstream3_->flush();
    coherence_.flush();
    pinned_.flush();
  } while (clients_.anyDirty());
}

std::string Server::info(std::string_view section) { return infoText(metricSources(), section); }

MetricSources Server::metricSources() const {
  return MetricSources{config_,    cache_,     read_through_, *upstream_, *upstream3_,  pinned_, forwarder_,
                       facts_,     coherence_, clients_,      uptimeMs(), bound_port_, accept_errors_,
                       TlsSources{config_, tls_clients_, tls_backend_, bound_tls_port_}};
}

bool Server::backendResp3() {
  std::string_view v = facts_.version();
  int major = 0;
  for (char c : v) {
    if (c < '0' || c > '9') break;
    major = major * 10 + (c - '0');
  }
  return v.empty() || major >= 6;
}

std::string_view Server::backendVersion() {
  std::string_view v = facts_.version();
  return v.empty() ? std::string_view(RCP_VERSION) : v;
}

}  // namespace rcp
