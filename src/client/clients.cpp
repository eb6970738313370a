// The client set (see clients.h).
#include "src/client/clients.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <ctime>

#include "src/client/connection.h"
#include "src/client/http_session.h"
#include "src/client/protected_mode.h"
#include "src/client/resp_session.h"

namespace rcp::client {

Clients::Clients(Loop& loop, const Config& config, const Services& services, ClientHost& host)
    : loop_(loop), config_(config), host_(host), tracking_(config),
      context_{loop,
               config,
               stats_,
               host,
               services.read_through,
               services.forwarder,
               services.shared,
               services.shared3,
               services.pinned,
               services.commands,
               date_,
               tracking_,
               *this} {}

Clients::~Clients() { assert(connections_.empty()); }

void Clients::accept(uv_stream_t* listener, const Listener& kind) {
  bool reject = clients_ >= config_.max_clients;
  auto* c = new Connection(*this, context_, replies_, next_id_++, reject, kind);
  int rc = uv_accept(listener, c->stream());
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
  bool denied = false;
  // A Unix socket's clients are local: protected mode is for TCP, as Redis's.
  if (!reject && kind.kind == net::Stream::Kind::kTcp && config_.protected_mode && config_.requirepass.empty() &&
      !isLoopbackBind(config_.bind)) {
    sockaddr_storage peer{};
    int len = sizeof(peer);
    if (uv_tcp_getpeername(reinterpret_cast<uv_tcp_t*>(c->stream()), reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
        protectedModeDenies(config_, reinterpret_cast<const sockaddr*>(&peer))) {
      denied = true;
      ++stats_.protected_denied;
      --clients_;
      ++rejecting_;
      c->denyProtected();
    }
  }
  if (reject || denied) {
    if (rejecting_ > kMaxRejecting) {
      c->close();
      return;
    }
    if (reject) warnRejected();
    else if (stats_.protected_denied == 1) spdlog::warn("protected mode: {}", protectedModeMessage(config_));
  }
  if (c->start() != 0) c->close();
}

std::unique_ptr<Session> Clients::makeSession(Connection& c, bool http) {
  if (http) return std::make_unique<HttpSession>(c, context_);
  return std::make_unique<RespSession>(c, context_);
}

// At most one line a second, however fast connections are refused; the rest are counted in it.
void Clients::warnRejected() {
  uint64_t now = loop_.nowMs();
  if (last_reject_warning_ms_ != 0 && now - last_reject_warning_ms_ < kRejectWarnEveryMs) {
    ++rejects_unlogged_;
    return;
  }
  last_reject_warning_ms_ = now;
  if (rejects_unlogged_ == 0) {
    spdlog::warn("max number of clients reached ({}): rejecting a connection", config_.max_clients);
  } else {
    spdlog::warn("max number of clients reached ({}): rejecting a connection ({} more rejected since the last "
                 "message)", config_.max_clients, rejects_unlogged_);
  }
  rejects_unlogged_ = 0;
}

void Clients::inputChanged(Connection*, size_t before, size_t now) {
  input_bytes_ = input_bytes_ - before + now;
  if (input_bytes_ <= config_.max_input_bytes || shedding_) return;
  // Rare (a flood of half-sent requests): close the largest holders first, whoever they are.
  shedding_ = true;
  std::vector<Connection*> by_size(connections_.begin(), connections_.end());
  std::sort(by_size.begin(), by_size.end(), [](Connection* a, Connection* b) { return a->inputBytes() > b->inputBytes(); });
  for (Connection* c : by_size) {
    if (input_bytes_ <= config_.max_input_bytes || c->inputBytes() == 0) break;
    c->closeForInputLimit();
  }
  shedding_ = false;
}

void Clients::flushDirty() {
  tracking_.flush();  // BCAST invalidations gathered this turn
  // Flushing a connection can run requests it held back, which can make more connections dirty.
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);
    for (Connection* c : flushing_) {
      c->dirty = false;
      c->flush();
    }
    flushing_.clear();
  }
  tracking_.delivered();
}

std::vector<ClientInfo> Clients::clients() {
  std::vector<ClientInfo> all;
  all.reserve(clients_);
  for (Connection* c : connections_) {
    if (c->rejecting()) continue;
    all.emplace_back();
    c->describe(all.back());
  }
  std::sort(all.begin(), all.end(), [](const ClientInfo& a, const ClientInfo& b) { return a.id < b.id; });
  return all;
}

void Clients::kill(const std::vector<uint64_t>& ids, uint64_t caller) {
  if (ids.empty()) return;
  std::unordered_set<uint64_t> wanted(ids.begin(), ids.end());
  std::vector<Connection*> doomed;  // found first: closing one changes connections_
  for (Connection* c : connections_)
    if (wanted.count(c->id()) != 0) doomed.push_back(c);
  for (Connection* c : doomed) {
    if (c->id() == caller) c->closeAfterWrite();  // its reply first, as Redis does
    else c->close();
  }
}

bool Clients::blocked(uint64_t id, long long* redis_id, int32_t* slot) {
  for (Connection* c : connections_)
    if (c->id() == id) return c->blockedOn(redis_id, slot);
  return false;
}

void Clients::closed(Connection* c) {
  connections_.erase(c);
  if (c->rejecting()) --rejecting_;
  else --clients_;
  if (c->dirty) dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  if (draining_ && connections_.empty()) host_.onClientsDrained();
}

void Clients::drainAll() {
  draining_ = true;
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->drain();
  if (connections_.empty()) host_.onClientsDrained();
}

void Clients::closeAll() {
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) c->close();
}

void Clients::housekeeping(uint64_t now_ms) {
  if (config_.idle_timeout_ms == 0 && config_.request_timeout_ms == 0 && rejecting_ == 0) return;
  std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) {
    if (!c->closeIfRequestSlow(now_ms, config_.request_timeout_ms))
      c->closeIfIdle(now_ms, config_.idle_timeout_ms, kRejectWaitMs);
  }
}

}  // namespace rcp::client
