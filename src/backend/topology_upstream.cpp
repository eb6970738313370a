// The topology policy: routing over the nodes, redirects, parking (see topology_upstream.h; the
// cluster map is read in cluster_map.cpp).
#include "src/backend/topology_upstream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <utility>

#include "resp/reply.h"

namespace rcp::backend {

namespace {
// "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the address (host empty: the same host as
// the node that answered, which Redis sends when it does not know its own endpoint).
bool parseRedirect(std::string_view error, uint16_t* slot, std::string_view* host, uint16_t* port) {
  size_t sp1 = error.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = error.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view s = error.substr(sp1 + 1, sp2 - sp1 - 1), addr = error.substr(sp2 + 1);
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v >= resp::kClusterSlots) return false;
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view ps = addr.substr(colon + 1);
  unsigned pv = 0;
  auto [q, ec2] = std::from_chars(ps.data(), ps.data() + ps.size(), pv);
  if (ec2 != std::errc() || pv == 0 || pv > 65535) return false;
  std::string_view h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *slot = static_cast<uint16_t>(v);
  *host = h;
  *port = static_cast<uint16_t>(pv);
  return true;
}
}  // namespace

// An ASKING sent ahead of a request an ASK redirected; frees itself.
class Asking final : public Request {
 public:
  void encode(std::string& out) const override { out.append("*1\r\n$6\r\nASKING\r\n"); }
  void onReply(const resp::Frame&) override { delete this; }
  void onFailure(Failure, std::string_view) override { delete this; }
};

void TopologyUpstream::Refresh::encode(std::string& out) const {
  resp::appendCommand(out, {"CLUSTER", owner_.refresh_shards_ ? "SHARDS" : "SLOTS"});
}

TopologyUpstream::TopologyUpstream(Loop& loop, const Config& config, bool resp3, TopologyUpstream* leader,
                                   net::TlsEndpoint* tls)
    : loop_(loop), config_(config), tls_(leader != nullptr ? leader->tls_ : tls), resp3_(resp3), leader_(leader != nullptr ? leader : this),
      rng_(std::random_device{}()) {
  uv_timer_init(loop_.uv(), &tick_);
  tick_.data = this;
  if (leader_ != this) {
    leader_->followers_.push_back(this);
  } else {
    refresh_ = std::make_unique<Refresh>(*this);
    if (config_.sentinel()) {
      mode_ = Mode::kSentinel;
      no_primary_why_ = "no primary known yet: the Sentinels have not answered";
      SentinelListener& listener = *this;
      sentinel_ = std::make_unique<SentinelWatch>(loop_, config_, tls_, listener);
    }
  }
}

TopologyUpstream::~TopologyUpstream() { assert(closed_); }

void TopologyUpstream::start() {
  uv_timer_start(&tick_, [](uv_timer_t* t) noexcept { static_cast<TopologyUpstream*>(t->data)->onTick(); }, kTickMs,
                 kTickMs);
  if (leader_ != this) {
    rebuild();
    return;
  }
  if (sentinel_ != nullptr) {
    sentinel_->start();
    return;
  }
  const BackendAddress& seed = config_.redis_seeds.empty() ? config_.redis : config_.redis_seeds.front();
  default_ = nodeAt(seed.host, seed.port);
  default_->routed = true;
  refreshNow();
}

void TopologyUpstream::close() {
  if (closed_) return;
  closed_ = true;
  if (sentinel_ != nullptr) sentinel_->close();
  for (auto& n : nodes_) n->up->close();
  for (auto& n : retired_)
    if (!n->closed) n->up->close();
  for (Parked& p : parked_) failing_.emplace_back(p.r, "proxy shutting down");
  parked_.clear();
  flush();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
}

TopologyUpstream::Node* TopologyUpstream::nodeAt(std::string_view host, uint16_t port) {
  for (auto& n : nodes_)
    if (n->port == port && n->host == host) return n.get();
  // A seed's own credentials; a node found in the map: those of the first address of --redis.
  const BackendAddress* cred = &config_.redis;
  for (const BackendAddress& s : config_.redis_seeds)
    if (s.port == port && s.host == host) cred = &s;
  LinkOptions o = LinkOptions::fromRedis(std::string(host), port, cred->user, cred->password, cred->db,
                                         config_.backend_timeout_ms, config_.max_backend_reply_bytes, resp3_,
                                         config_.backend_min_rate);
  o.redirects = true;
  o.tls = tls_;
  if (leader_->mode_ == Mode::kSentinel) o.requirePrimary();
  auto n = std::make_unique<Node>();
  n->id = leader_->next_id_++;  // one numbering for the leader's and the followers' nodes
  n->host = std::string(host);
  n->port = port;
  n->up = std::make_unique<NodeUpstream>(loop_, config_, std::move(o), n->id, this, &stats_, &latency_, resp3_);
  n->up->onUp([this](NodeId id) {
    // A node draining out of the map may reconnect: nobody is to start tracking it again.
    for (const auto& live : nodes_)
      if (live->id == id) upEvent(id);
  });
  if (!on_ready_.empty()) {  // only then do the node's requests wait for its handshake (see onReady)
    n->up->onReady([this](NodeId id) {
      for (const auto& live : nodes_)
        if (live->id == id) readyEvent(id);
    });
  }
  n->up->onDown([this](NodeId id) {
    const Node* p = leader_->default_;
    if (leader_->mode_ == Mode::kSentinel && p != nullptr) {
      const Node* lost = byId(id);
      if (lost != nullptr && lost->host == p->host && lost->port == p->port) leader_->primaryLost();
    }
    downEvent(id);
  });
  Node* raw = n.get();
  nodes_.push_back(std::move(n));
  if (!closed_) raw->up->start();
  return raw;
}

TopologyUpstream::Node* TopologyUpstream::byId(NodeId id) const noexcept {
  for (const auto& n : nodes_)
    if (n->id == id) return n.get();
  for (const auto& n : retired_)
    if (n->id == id && !n->closed) return n.get();
  return nullptr;
}

TopologyUpstream::Node* TopologyUpstream::route(int32_t slot) {
  if (slot >= 0 && leader_->mode_ == Mode::kCluster) {
    if (Node* n = routes_[static_cast<size_t>(slot)]) return n;
  }
  if (unconfirmed()) return nullptr;
  if (default_ == nullptr) rebuild();  // a follower before the leader knew anything
  return default_;
}

void TopologyUpstream::send(Node* n, Request* r) {
  if (n == nullptr && !closed_ && sentinelPark(r)) return;
  if (n == nullptr || closed_) {
    fail(r, closed_                             ? "proxy shutting down"
            : leader_->mode_ == Mode::kSentinel ? std::string_view(leader_->no_primary_why_)
                                                : "no Redis node known yet");
    return;
  }
  n->up->submit(r);
}

void TopologyUpstream::submit(Request* r) {
  r->issued_ms = loop_.nowMs();
  r->redirects = 0;
  send(route(r->slot), r);
}

void TopologyUpstream::submitTo(NodeId node, Request* r) {
  r->issued_ms = loop_.nowMs();
  r->redirects = 0;
  Node* n = byId(node);
  if (n == nullptr) {
    fail(r, "the node left the cluster");
    return;
  }
  n->up->submit(r);
}

void TopologyUpstream::cancel(Request* r) {
  for (auto it = parked_.begin(); it != parked_.end(); ++it) {
    if (it->r == r) {
      parked_.erase(it);
      return;
    }
  }
  for (auto it = failing_.begin(); it != failing_.end(); ++it) {
    if (it->first == r) {
      failing_.erase(it);
      return;
    }
  }
  if (Node* n = byId(r->node)) n->up->cancel(r);
}

void TopologyUpstream::fail(Request* r, std::string_view why) {
  ++stats_.failed;
  failing_.emplace_back(r, std::string(why));
  loop_.requestTurnEnd();
}

void TopologyUpstream::flush() {
  while (!failing_.empty()) {
    std::vector<std::pair<Request*, std::string>> batch;
    batch.swap(failing_);
    for (auto& [r, why] : batch) r->onFailure(Failure::kUnavailable, why);
  }
  if (sentinel_ != nullptr) sentinel_->flush();
  for (auto& n : nodes_) n->up->flush();
  for (auto& n : retired_)
    if (!n->closed) n->up->flush();
}

bool TopologyUpstream::nodeAddress(NodeId node, std::string* host, uint16_t* port) const {
  Node* n = byId(node);
  if (n == nullptr) return false;
  *host = n->host;
  *port = n->port;
  return true;
}

bool TopologyUpstream::addressFor(int32_t slot, std::string* host, uint16_t* port) const {
  const TopologyUpstream& l = *leader_;
  if (unconfirmed()) return false;  // unconfirmed or fenced: none to pin to
  if (slot >= 0 && l.mode_ == Mode::kCluster) {
    int i = l.map_.primaryFor(static_cast<uint16_t>(slot));
    if (i != SlotMap::kNone) {
      *host = l.map_.primaries()[static_cast<size_t>(i)].host;
      *port = l.map_.primaries()[static_cast<size_t>(i)].port;
      return true;
    }
  }
  if (l.default_ == nullptr) return false;
  *host = l.default_->host;
  *port = l.default_->port;
  return true;
}

std::vector<NodeId> TopologyUpstream::primaries() const {
  std::vector<NodeId> out;
  if (leader_->mode_ != Mode::kCluster) {
    if (default_ != nullptr) out.push_back(default_->id);
    return out;
  }
  for (const auto& n : nodes_)
    if (n->routed) out.push_back(n->id);
  return out;
}

bool TopologyUpstream::up() const noexcept {
  if (unconfirmed()) return false;
  if (leader_->mode_ != Mode::kCluster) return default_ != nullptr && default_->up->up();
  bool any = false;
  for (const auto& n : nodes_) {
    if (!n->routed) continue;
    if (n->up->up()) any = true;
    else if (leader_ == this || n->up->state() != NodeState::kIdle) return false;
  }
  return any;
}

const char* TopologyUpstream::stateName() const noexcept {
  if (closed_) return "closed";
  if (leader_->mode_ == Mode::kSentinel && leader_->default_ == nullptr) return "no-primary";
  if (unconfirmed() && default_ != nullptr && default_->up->up()) return "unconfirmed";
  if (leader_->mode_ != Mode::kCluster) return default_ != nullptr ? default_->up->stateName() : "idle";
  if (up()) return "up";
  bool idle = true;
  for (const auto& n : nodes_) {
    if (!n->routed) continue;
    if (n->up->up()) return "partial";
    idle &= n->up->state() == NodeState::kIdle;
  }
  return idle ? "idle" : "down";  // idle: a RESP3 policy no client has used yet
}

size_t TopologyUpstream::pending() const noexcept {
  size_t n = parked_.size() + failing_.size();
  for (const auto& node : nodes_) n += node->up->pending();
  for (const auto& node : retired_)
    if (!node->closed) n += node->up->pending();
  return n;
}

bool TopologyUpstream::withinDeadline(const Request& r) const noexcept {
  uint64_t timeout = r.timeout_ms != 0 ? r.timeout_ms : config_.backend_timeout_ms;
  return loop_.nowMs() - r.issued_ms < timeout;
}

void TopologyUpstream::park(Request* r, uint64_t delay_ms, std::string_view why) {
  parked_.push_back({r, loop_.nowMs() + delay_ms, std::string(why)});
}

bool TopologyUpstream::onUnavailable(NodeUpstream& node, Request& r) {
  // A single Redis fails fast while it is unreachable; a cluster node's slots may move to a replica
  // (a failover): the request waits for a map that names another owner, within its deadline.
  if (closed_ || &r == leader_->refresh_.get() || !withinDeadline(r)) return false;
  if (leader_->mode_ == Mode::kSentinel) {
    // The primary may have failed over: the Sentinels are asked, and r waits for their answer.
    park(&r, 50, "the primary is unreachable: " + node.lastError());
    leader_->sentinel_->resolveSoon();
    return true;
  }
  if (leader_->mode_ != Mode::kCluster) return false;
  ++leader_->cstats_.parked;
  park(&r, 100, "the node serving the key's slot is unreachable");
  leader_->refreshSoon();
  return true;
}

void TopologyUpstream::onRedirect(NodeUpstream& from, Request& r, std::string_view error) {
  if (closed_ || &r == leader_->refresh_.get() || ++r.redirects > kMaxRedirects || !withinDeadline(r)) {
    fail(&r, error);
    return;
  }
  ClusterStats& cs = leader_->cstats_;
  bool moved = error.starts_with("MOVED "), ask = error.starts_with("ASK ");
  if (moved || ask) {
    uint16_t slot = 0, port = 0;
    std::string_view host;
    if (!parseRedirect(error, &slot, &host, &port)) {
      fail(&r, error);
      return;
    }
    std::string h(host.empty() || host == "?" ? std::string_view(byId(from.id())->host) : host);
    if (moved) {
      ++cs.moved;
      leader_->applyMoved(slot, h, port);
      if (r.redirects > kImmediateMoves) {
        // Moved back and forth: the nodes disagree (the last step of a slot's migration, told to
        // one primary at a time). Again after a backoff, by the map, within the request's deadline.
        leader_->refreshSoon();
        park(&r, std::min<uint64_t>(uint64_t{10} << std::min<unsigned>(r.redirects - kImmediateMoves, 5u), 200), error);
        return;
      }
      send(r.slot >= 0 ? route(r.slot) : nodeAt(h, port), &r);
    } else {
      ++cs.ask;
      nodeAt(h, port)->up->submitPair(new Asking, &r);
    }
    return;
  }
  // TRYAGAIN (a multi-key command during a slot's migration), CLUSTERDOWN, LOADING: again, later.
  ++cs.retried;
  if (error.starts_with("CLUSTERDOWN")) leader_->refreshSoon();
  park(&r, std::min<uint64_t>(uint64_t{10} << std::min<unsigned>(r.redirects, 5u), 200), error);
}

void TopologyUpstream::onTick() {
  uint64_t now = loop_.nowMs();
  // Nodes out of the map: closed once what they hold has answered (MOVED, followed) or its time is
  // up, and freed a tick later, when their handles' close callbacks have run.
  for (size_t i = 0; i < retired_.size();) {
    Node& n = *retired_[i];
    if (n.closed) {
      retired_.erase(retired_.begin() + static_cast<ptrdiff_t>(i));
      continue;
    }
    if (n.up->pending() == 0 || now - n.retired_ms >= config_.backend_timeout_ms) {
      n.up->close("the node is no longer a primary");
      n.closed = true;
    }
    ++i;
  }
  if (!parked_.empty()) {
    std::vector<Parked> due;
    for (size_t i = 0; i < parked_.size();) {
      if (parked_[i].due_ms <= now) {
        due.push_back(parked_[i]);
        parked_[i] = parked_.back();
        parked_.pop_back();
      } else {
        ++i;
      }
    }
    for (Parked& p : due) {
      if (!withinDeadline(*p.r)) {
        const std::string& why = leader_->mode_ == Mode::kSentinel && !leader_->no_primary_why_.empty()
                                     ? leader_->no_primary_why_ : p.why;
        fail(p.r, why);
        continue;
      }
      send(route(p.r->slot), p.r);
    }
  }
  if (leader_ != this || closed_) return;
  if (refresh_wanted_ && !refresh_in_flight_ && now >= next_refresh_ms_) {
    refreshNow();
  } else if (mode_ == Mode::kCluster && config_.cluster_refresh_ms != 0 && !refresh_in_flight_ &&
             now - last_refresh_ms_ >= config_.cluster_refresh_ms) {
    refreshNow();
  }
}

void TopologyUpstream::rebuild() {
  const TopologyUpstream& l = *leader_;
  for (auto& n : nodes_) n->routed = false;
  if (l.mode_ != Mode::kCluster) {
    if (l.default_ != nullptr) {
      default_ = leader_ == this ? default_ : nodeAt(l.default_->host, l.default_->port);
      default_->routed = true;
    }
    if (l.mode_ == Mode::kSentinel) retireUnrouted();  // the old primary, after a switch
    return;
  }
  std::vector<Node*> by_index;
  for (const ClusterNode& p : l.map_.primaries()) {
    Node* n = nodeAt(p.host, p.port);
    n->routed = true;
    by_index.push_back(n);
  }
  for (size_t s = 0; s < resp::kClusterSlots; ++s) {
    int i = l.map_.primaryFor(static_cast<uint16_t>(s));
    routes_[s] = i == SlotMap::kNone ? nullptr : by_index[static_cast<size_t>(i)];
  }
  default_ = routes_[0] != nullptr ? routes_[0] : by_index.empty() ? default_ : by_index.front();
  if (default_ != nullptr) default_->routed = true;
  retireUnrouted();
}

void TopologyUpstream::retireUnrouted() {
  // Nodes the map no longer names (a failed primary replaced by its replica, a seed that is a
  // replica): closed; what they held goes back to routing (onUnavailable), within its deadline.
  for (size_t i = 0; i < nodes_.size();) {
    if (nodes_[i]->routed) {
      ++i;
      continue;
    }
    std::unique_ptr<Node> gone = std::move(nodes_[i]);
    nodes_.erase(nodes_.begin() + static_cast<ptrdiff_t>(i));
    spdlog::info("node {} is no longer a primary; its link closes once drained", gone->up->name());
    gone->retired_ms = loop_.nowMs();
    if (leader_->mode_ == Mode::kSentinel) {
      // What was not yet written to it goes to the new primary; what it is answering drains.
      std::vector<Request*> unsent;
      gone->up->takeUnsent(unsent);
      for (Request* r : unsent) send(route(r->slot), r);
    }
    goneEvent(gone->id);
    retired_.push_back(std::move(gone));
  }
}

}  // namespace rcp::backend
