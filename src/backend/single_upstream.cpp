// The single-Redis upstream policy (see single_upstream.h).
#include "src/backend/single_upstream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace rcp::backend {

namespace {
LinkOptions optionsFrom(const Config& c, bool resp3) {
  return LinkOptions::fromRedis(c.redis.host, c.redis.port, c.redis.user, c.redis.password, c.redis.db,
                                c.backend_timeout_ms, c.max_backend_reply_bytes, resp3);
}

bool erase(std::deque<Request*>& q, Request* r) {
  auto it = std::find(q.begin(), q.end(), r);
  if (it == q.end()) return false;
  q.erase(it);
  return true;
}
}  // namespace

SingleUpstream::SingleUpstream(Loop& loop, const Config& config, bool resp3)
    : loop_(loop), config_(config), options_(optionsFrom(config, resp3)), dormant_(resp3),
      rng_(std::random_device{}()) {
  uv_timer_init(loop_.uv(), &reconnect_timer_);
  uv_timer_init(loop_.uv(), &tick_timer_);
  reconnect_timer_.data = this;
  tick_timer_.data = this;
}

SingleUpstream::~SingleUpstream() { assert(closed_ && link_ == nullptr); }

const char* SingleUpstream::stateName() const noexcept {
  if (closed_) return "closed";
  if (link_ == nullptr) return attempt_ == 0 && stats_.connects == 0 ? "idle" : "down";
  switch (link_->state()) {
    case Link::State::kResolving: return "resolving";
    case Link::State::kConnecting: return "connecting";
    case Link::State::kHandshake: return "handshake";
    case Link::State::kUp: return "up";
    case Link::State::kClosed: break;
  }
  return "down";
}

void SingleUpstream::start() {
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) noexcept { static_cast<SingleUpstream*>(t->data)->onTick(); },
                 kTickMs, kTickMs);
  if (!dormant_) connect();
}

void SingleUpstream::close() {
  if (closed_) return;
  closed_ = true;
  if (Link* l = std::exchange(link_, nullptr)) l->close("proxy shutting down");
  failWaiting(Failure::kUnavailable, "proxy shutting down");
  flush();  // completes what failed at submit
  uv_close(reinterpret_cast<uv_handle_t*>(&reconnect_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
}

void SingleUpstream::connect() {
  if (closed_) return;
  link_ = new Link(loop_, options_, *this, stats_, latency_);
  link_->open();
}

void SingleUpstream::submit(Request* r) {
  r->deadline_ms = r->timeout_ms == 0 ? 0 : loop_.nowMs() + r->timeout_ms;
  if (dormant_ && !closed_) {
    dormant_ = false;
    connect();  // the request waits for the link to come up
  }
  if (link_ == nullptr) {
    // Redis is unreachable (backing off) or the proxy is closing: fail fast, in the next pass.
    failing_.push_back(r);
    loop_.requestTurnEnd();
    return;
  }
  if (link_->accepting() && waiting_.empty() && link_->inflight() < config_.max_inflight) {
    link_->send(r);
    return;
  }
  waiting_.push_back(r);
}

void SingleUpstream::cancel(Request* r) {
  if (erase(waiting_, r) || erase(failing_, r)) return;
  if (link_ != nullptr) link_->cancel(r);
}

void SingleUpstream::flush() {
  while (!failing_.empty()) {
    Request* r = failing_.front();
    failing_.pop_front();
    ++stats_.failed;
    r->onFailure(Failure::kUnavailable, last_error_);
  }
  if (link_ != nullptr) link_->flush();
}

void SingleUpstream::sendWaiting() {
  if (link_ == nullptr || !link_->accepting()) return;
  while (!waiting_.empty() && link_->inflight() < config_.max_inflight) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    link_->send(r);
  }
}

void SingleUpstream::onLinkUp(Link&) {
  link_up_ = true;
  ++stats_.connects;
  attempt_ = 0;
  spdlog::info("backend {} connected{}", config_.redis.display(), options_.resp3 ? " (RESP3 link)" : "");
  sendWaiting();
  upEvent();
}

void SingleUpstream::onLinkReplies(Link&) { sendWaiting(); }

void SingleUpstream::onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) {
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
    stats_.retried += retry.size();
    waiting_.insert(waiting_.begin(), retry.begin(), retry.end());
    spdlog::warn("backend {} lost: {}; reconnecting at once", config_.redis.display(), last_error_);
    connect();  // now, so no request submitted meanwhile finds no link and fails fast
    downEvent();
    return;
  }
  assert(retry.empty());
  failWaiting(Failure::kUnavailable, last_error_);
  scheduleReconnect();
}

void SingleUpstream::scheduleReconnect() {
  if (closed_) return;
  uint64_t cap = std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
  uint64_t delay = cap / 2 + std::uniform_int_distribution<uint64_t>(0, cap / 2)(rng_);  // "equal jitter"
  if (attempt_ == 0) spdlog::warn("backend {} unavailable: {}; retrying", config_.redis.display(), last_error_);
  ++attempt_;
  uv_timer_start(&reconnect_timer_, [](uv_timer_t* t) noexcept { static_cast<SingleUpstream*>(t->data)->connect(); },
                 delay, 0);
}

void SingleUpstream::failWaiting(Failure kind, std::string_view why) {
  std::string reason(why);
  while (!waiting_.empty()) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    if (kind == Failure::kTimeout) ++stats_.timeouts;
    else ++stats_.failed;
    r->onFailure(kind, reason);
  }
}

void SingleUpstream::onTick() {
  uint64_t now = loop_.nowMs();
  if (link_ != nullptr) link_->checkDeadlines(now);
  // Requests waiting for a turn (over --max-inflight, or for the link to come up) time out too.
  while (!waiting_.empty() && waiting_.front()->deadline_ms != 0 && now >= waiting_.front()->deadline_ms) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    ++stats_.timeouts;
    r->onFailure(Failure::kTimeout, "backend timeout");
  }
}

}  // namespace rcp::backend
