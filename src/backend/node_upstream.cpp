// The link policy of one node (see node_upstream.h).
#include "src/backend/node_upstream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace rcp::backend {

namespace {
LinkOptions optionsFrom(const Config& c, bool resp3) {
  return LinkOptions::fromRedis(c.redis.host, c.redis.port, c.redis.user, c.redis.password, c.redis.db,
                                c.backend_timeout_ms, c.max_backend_reply_bytes, resp3, c.backend_min_rate);
}

bool erase(std::deque<Request*>& q, Request* r) {
  auto it = std::find(q.begin(), q.end(), r);
  if (it == q.end()) return false;
  q.erase(it);
  return true;
}
}  // namespace

NodeUpstream::NodeUpstream(Loop& loop, const Config& config, bool resp3)
    : NodeUpstream(loop, config, optionsFrom(config, resp3), 1, nullptr, nullptr, nullptr, resp3) {}

NodeUpstream::NodeUpstream(Loop& loop, const Config& config, LinkOptions options, NodeId id, NodeOwner* owner,
                           UpstreamStats* stats, LatencyHistogram* latency, bool dormant)
    : loop_(loop), config_(config), options_(std::move(options)), id_(id), owner_(owner), dormant_(dormant),
      rng_(std::random_device{}()) {
  if (stats != nullptr) stats_ = stats;
  if (latency != nullptr) latency_ = latency;
  name_ = (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) + ":" +
          std::to_string(options_.port);
  if (options_.port == config_.redis.port && options_.host == config_.redis.host) name_ = config_.redis.display();
  uv_timer_init(loop_.uv(), &reconnect_timer_);
  uv_timer_init(loop_.uv(), &tick_timer_);
  reconnect_timer_.data = this;
  tick_timer_.data = this;
}

NodeUpstream::~NodeUpstream() { assert(closed_ && link_ == nullptr); }

bool NodeUpstream::nodeAddress(NodeId, std::string* host, uint16_t* port) const {
  *host = options_.host;
  *port = options_.port;
  return true;
}

const char* nodeStateName(NodeState s) noexcept {
  switch (s) {
    case NodeState::kIdle: return "idle";
    case NodeState::kResolving: return "resolving";
    case NodeState::kConnecting: return "connecting";
    case NodeState::kHandshake: return "handshake";
    case NodeState::kUp: return "up";
    case NodeState::kDown: return "down";
    case NodeState::kClosed: return "closed";
  }
  return "down";
}

NodeState NodeUpstream::state() const noexcept {
  if (closed_) return NodeState::kClosed;
  if (link_ == nullptr) return attempt_ == 0 && !ever_up_ ? NodeState::kIdle : NodeState::kDown;
  switch (link_->state()) {
    case Link::State::kResolving: return NodeState::kResolving;
    case Link::State::kConnecting: return NodeState::kConnecting;
    case Link::State::kHandshake: return NodeState::kHandshake;
    case Link::State::kUp: return NodeState::kUp;
    case Link::State::kClosed: break;
  }
  return NodeState::kDown;
}

void NodeUpstream::start() {
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) noexcept { static_cast<NodeUpstream*>(t->data)->onTick(); },
                 kTickMs, kTickMs);
  if (!dormant_) connect();
}

void NodeUpstream::close(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  if (Link* l = std::exchange(link_, nullptr)) l->close(why);
  failWaiting(Failure::kUnavailable, why);
  last_error_ = why;
  flush();  // completes what failed at submit
  uv_close(reinterpret_cast<uv_handle_t*>(&reconnect_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
}

void NodeUpstream::connect() {
  if (closed_) return;
  link_ = new Link(loop_, options_, *this, *stats_, *latency_);
  link_->open();
}

void NodeUpstream::submit(Request* r) {
  r->deadline_ms = r->timeout_ms == 0 ? 0 : loop_.nowMs() + r->timeout_ms;
  if (dormant_ && !closed_) {
    dormant_ = false;
    connect();  // the request waits for the link to come up
  }
  r->node = id_;
  if (link_ == nullptr) {
    // Redis is unreachable (backing off) or the proxy is closing: fail fast, in the next pass.
    failing_.push_back(r);
    loop_.requestTurnEnd();
    return;
  }
  // Sent at once, behind the handshake if it is still running; with ready hooks, only once up (what
  // they submit must be the first on the connection).
  if (link_->accepting() && (link_up_ || on_ready_.empty()) && waiting_.empty() &&
      link_->inflight() < config_.max_inflight) {
    link_->send(r);
    return;
  }
  waiting_.push_back(r);
}

void NodeUpstream::submitPair(Request* first, Request* r) {
  r->deadline_ms = r->timeout_ms == 0 ? 0 : loop_.nowMs() + r->timeout_ms;
  r->node = id_;
  if (link_ == nullptr) {
    first->onFailure(Failure::kUnavailable, last_error_);
    failing_.push_back(r);
    loop_.requestTurnEnd();
    return;
  }
  if (link_->accepting() && (link_up_ || on_ready_.empty()) && waiting_.empty() &&
      link_->inflight() + 1 < config_.max_inflight) {
    link_->send(first);
    link_->send(r);
    return;
  }
  waiting_.push_back(first);
  waiting_.push_back(r);
}

void NodeUpstream::takeUnsent(std::vector<Request*>& out) {
  out.insert(out.end(), failing_.begin(), failing_.end());
  out.insert(out.end(), waiting_.begin(), waiting_.end());
  failing_.clear();
  waiting_.clear();
}

void NodeUpstream::cancel(Request* r) {
  if (erase(waiting_, r) || erase(failing_, r)) return;
  if (link_ != nullptr) link_->cancel(r);
}

void NodeUpstream::flush() {
  while (!failing_.empty()) {
    Request* r = failing_.front();
    failing_.pop_front();
    failOne(r, Failure::kUnavailable, last_error_);
  }
  if (link_ != nullptr) link_->flush();
}

void NodeUpstream::sendWaiting() {
  if (link_ == nullptr || !link_->accepting() || (!link_up_ && !on_ready_.empty())) return;
  while (!waiting_.empty() && link_->inflight() < config_.max_inflight) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    link_->send(r);
  }
}

void NodeUpstream::onLinkUp(Link&) {
  link_up_ = true;
  ++stats_->connects;
  ever_up_ = true;
  attempt_ = 0;
  spdlog::info("{} {} connected{}", kind_, name_, options_.resp3 ? " (RESP3 link)" : "");
  if (!on_ready_.empty()) {  // what the hooks submit goes ahead of what waited
    auto parked = std::exchange(waiting_, {});
    readyEvent(id_);
    waiting_.insert(waiting_.end(), parked.begin(), parked.end());
  }
  sendWaiting();
  upEvent(id_);
}

void NodeUpstream::onLinkReplies(Link&) { sendWaiting(); }

void NodeUpstream::onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) {
  assert(&link == link_);
  (void)link;
  bool was_up = std::exchange(link_up_, false);
  link_ = nullptr;
  last_error_ = why;
  if (was_up) {
    // A link that had worked was lost (Redis's idle timeout, CLIENT KILL, a failover, or a stuck
    // request): a new one opens at once, the reads it could not answer go first on it, in order,
    // and what was waiting waits for it as while any link connects. Only when that one fails too
    // does Redis count as unreachable.
    stats_->retried += retry.size();
    // Their time starts again: they were waiting behind a reply Redis was sending, not late.
    for (Request* r : retry) r->deadline_ms = r->timeout_ms == 0 ? 0 : loop_.nowMs() + r->timeout_ms;
    waiting_.insert(waiting_.begin(), retry.begin(), retry.end());
    spdlog::warn("{} {} lost: {}; reconnecting at once", kind_, name_, last_error_);
    connect();  // now, so no request submitted meanwhile finds no link and fails fast
    downEvent(id_);
    return;
  }
  assert(retry.empty());
  failWaiting(Failure::kUnavailable, last_error_);
  scheduleReconnect();
}

void NodeUpstream::scheduleReconnect() {
  if (closed_) return;
  uint64_t cap = std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
  uint64_t delay = cap / 2 + std::uniform_int_distribution<uint64_t>(0, cap / 2)(rng_);  // "equal jitter"
  if (attempt_ == 0) spdlog::warn("{} {} unavailable: {}; retrying", kind_, name_, last_error_);
  ++attempt_;
  uv_timer_start(&reconnect_timer_, [](uv_timer_t* t) noexcept { static_cast<NodeUpstream*>(t->data)->connect(); },
                 delay, 0);
}

void NodeUpstream::failWaiting(Failure kind, std::string_view why) {
  std::string reason(why);
  while (!waiting_.empty()) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    failOne(r, kind, reason);
  }
}

void NodeUpstream::failOne(Request* r, Failure kind, std::string_view why) {
  if (kind == Failure::kUnavailable && owner_ != nullptr && owner_->onUnavailable(*this, *r)) return;
  if (kind == Failure::kTimeout) ++stats_->timeouts;
  else ++stats_->failed;
  r->onFailure(kind, why);
}

void NodeUpstream::onLinkRedirect(Link&, Request& r, std::string_view error) {
  if (owner_ != nullptr) {
    owner_->onRedirect(*this, r, error);
    return;
  }
  failOne(&r, Failure::kUnavailable, error);
}

void NodeUpstream::onTick() {
  uint64_t now = loop_.nowMs();
  if (link_ != nullptr) link_->checkDeadlines(now);
  // Requests waiting for a turn (over --max-inflight, or for the link to come up) time out too.
  while (!waiting_.empty() && waiting_.front()->deadline_ms != 0 && now >= waiting_.front()->deadline_ms) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    ++stats_->timeouts;
    r->onFailure(Failure::kTimeout, "backend timeout");
  }
}

}  // namespace rcp::backend
