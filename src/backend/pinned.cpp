// Pinned connections (see pinned.h).
#include "src/backend/pinned.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace rcp::backend {

void Pinned::open(PinnedUser* user, bool resp3) {
  user_ = user;
  defer_keyless_ = false;
  if (link_ != nullptr) {  // an idle connection of that protocol, reused
    opened_ = true;
    return;
  }
  resp3_ = resp3;
  opened_ = false;
  if (pool_.clustered()) return;  // opened by the first request, on its slot's node
  if (pool_.config_.sentinel()) {  // the primary the Sentinels named (ROLE checked as for every link)
    openOn(Request::kAnySlot);
    return;
  }
  host_ = pool_.config_.redis.host;
  port_ = pool_.config_.redis.port;
  opened_ = true;
  link_ = new Link(pool_.loop_, pool_.options_[resp3 ? 1 : 0], *this, pool_.link_stats_, pool_.latency_);
  if (resp3) link_->setPushSink(this);
  link_->open();
}

void Pinned::openOn(int32_t slot) {
  opened_ = true;
  const Config& c = pool_.config_;
  if (!pool_.router_->addressFor(slot, &host_, &port_)) {
    host_ = c.sentinel() ? std::string() : c.redis.host;  // no primary known: the link fails saying so
    port_ = c.redis.port;
  }
  options_ = LinkOptions::fromRedis(host_, port_, c.redis.user, c.redis.password, c.sentinel() ? c.redis.db : 0,
                                    c.backend_timeout_ms, c.max_backend_reply_bytes, resp3_, c.backend_min_rate);
  options_.tls = pool_.options_[0].tls;
  if (c.sentinel()) options_.requirePrimary();
  options_.handshake.push_back({"CLIENT", "ID"});
  link_ = new Link(pool_.loop_, options_, *this, pool_.link_stats_, pool_.latency_);
  if (resp3_) link_->setPushSink(this);
  if (streaming_) link_->setSink(this);
  if (paused_) link_->pauseReading(true);
  link_->open();
}

void Pinned::submit(Request* r) {
  if (!opened_) {
    if (r->slot < 0 && defer_keyless_) {
      waiting_.push_back(r);
      return;
    }
    openOn(r->slot);
  }
  assert(link_ != nullptr && "a lost pinned connection takes no requests");
  if (link_ != nullptr && link_->accepting() && waiting_.empty()) {
    link_->send(r);
    pool_.markDirty(this);
    return;
  }
  waiting_.push_back(r);
}

void Pinned::cancel(Request* r) {
  auto it = std::find(waiting_.begin(), waiting_.end(), r);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  if (link_ != nullptr) link_->cancel(r);
}

void Pinned::sendRaw(std::string_view bytes, int32_t slot) {
  if (!opened_) openOn(slot);
  if (link_ != nullptr && link_->accepting() && waiting_.empty() && raw_waiting_.empty()) {
    link_->sendRaw(bytes);
    pool_.markDirty(this);
    return;
  }
  raw_waiting_.append(bytes);
}

void Pinned::setStreaming(bool on) {
  streaming_ = on;
  if (link_ != nullptr) link_->setSink(on ? this : nullptr);
}

void Pinned::pauseReading(bool paused) {
  paused_ = paused;
  if (link_ != nullptr) link_->pauseReading(paused);
}

void Pinned::sendWaiting() {
  if (link_ == nullptr || !link_->accepting()) return;
  bool sent = !waiting_.empty() || !raw_waiting_.empty();
  while (!waiting_.empty()) {
    link_->send(waiting_.front());
    waiting_.pop_front();
  }
  if (!raw_waiting_.empty()) {
    link_->sendRaw(raw_waiting_);
    raw_waiting_.clear();
  }
  if (sent) pool_.markDirty(this);
}

void Pinned::flush() {
  dirty_ = false;
  if (link_ != nullptr) link_->flush();
}

void Pinned::failWaiting(std::string_view why) {
  std::string reason(why);
  raw_waiting_.clear();
  while (!waiting_.empty()) {
    Request* r = waiting_.front();
    waiting_.pop_front();
    ++pool_.link_stats_.failed;
    r->onFailure(Failure::kUnavailable, reason);
  }
}

void Pinned::closeLink(std::string_view why) {
  if (Link* l = std::exchange(link_, nullptr)) l->close(why);
  failWaiting(why);
  streaming_ = paused_ = was_up_ = opened_ = false;
  laddr_.clear();
  trackingGone();
}

void Pinned::trackingGone() {
  tracking_redirect_ = 0;
  if (tracked_for_.empty()) return;
  std::vector<uint64_t> ids = std::move(tracked_for_);
  tracked_for_.clear();
  if (pool_.tracking_lost_) pool_.tracking_lost_(ids);
}

void Pinned::trackedFor(uint64_t client) {
  if (std::find(tracked_for_.begin(), tracked_for_.end(), client) != tracked_for_.end()) return;
  tracked_for_.push_back(client);
}

void Pinned::lose(std::string_view why) {
  Link* l = std::exchange(link_, nullptr);
  if (l == nullptr) return;  // not opened yet (a cluster opens on the first request): nothing on Redis
  std::string reason(why);
  l->close(reason);  // fails what it holds
  failWaiting(reason);
  streaming_ = paused_ = was_up_ = false;
  laddr_.clear();
  trackingGone();
  ++pool_.stats_.lost;
  if (user_ != nullptr) user_->onPinnedLost(reason, true);  // the user releases it
}

void Pinned::onLinkUp(Link&) {
  ++pool_.link_stats_.connects;
  was_up_ = true;
  sendWaiting();
}

void Pinned::onLinkReplies(Link&) { sendWaiting(); }

void Pinned::onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) {
  assert(&link == link_);
  (void)link;
  link_ = nullptr;
  laddr_.clear();
  trackingGone();  // Redis forgot what it tracked for the clients that read through it
  std::string reason(why);
  bool was_up = std::exchange(was_up_, false);
  // The client's state was on that connection: nothing is resent. Failing a request can end the
  // client's pinned state, and the client may release this connection from inside the failure:
  // it is then back in the pool and nobody is to be told.
  for (Request* r : retry) {
    ++pool_.link_stats_.failed;
    r->onFailure(Failure::kUnavailable, reason);
  }
  failWaiting(reason);
  streaming_ = paused_ = false;
  if (where_ == Where::kIdle) {
    pool_.dropIdle(this);
    return;
  }
  if (where_ != Where::kInUse || user_ == nullptr) return;
  ++pool_.stats_.lost;
  user_->onPinnedLost(reason, was_up);  // the user releases it
}

void Pinned::onFrame(const resp::Frame& frame) {
  if (user_ != nullptr) user_->onPinnedFrame(frame);
}

PinnedPool::PinnedPool(Loop& loop, const Config& config, const Upstream* router, net::TlsEndpoint* tls)
    : loop_(loop), config_(config), router_(router),
      options_{LinkOptions::fromRedis(config.redis.host, config.redis.port, config.redis.user, config.redis.password,
                                      config.redis.db, config.backend_timeout_ms, config.max_backend_reply_bytes, false,
                                      config.backend_min_rate),
               LinkOptions::fromRedis(config.redis.host, config.redis.port, config.redis.user, config.redis.password,
                                      config.redis.db, config.backend_timeout_ms, config.max_backend_reply_bytes,
                                      true, config.backend_min_rate)} {
  for (LinkOptions& o : options_) {
    o.tls = tls;
    o.handshake.push_back({"CLIENT", "ID"});  // what CLIENT UNBLOCK of a blocked client names
  }
  uv_timer_init(loop_.uv(), &tick_);
  tick_.data = this;
}

PinnedPool::~PinnedPool() { assert(closed_); }

void PinnedPool::start() {
  uv_timer_start(&tick_, [](uv_timer_t* t) noexcept { static_cast<PinnedPool*>(t->data)->onTick(); }, kTickMs, kTickMs);
}

void PinnedPool::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& p : all_) p->closeLink("proxy shutting down");
  idle_[0].clear();
  idle_[1].clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
}

void PinnedPool::closeAll(std::string_view why) {
  for (std::vector<Pinned*>& idle : idle_) {
    for (Pinned* p : idle) {
      p->where_ = Pinned::Where::kFree;
      p->closeLink(why);
      free_.push_back(p);
    }
    idle.clear();
  }
  for (auto& p : all_)
    if (p->where_ == Pinned::Where::kInUse) p->lose(why);
}

Pinned* PinnedPool::acquire(PinnedUser& user, bool resp3) {
  if (closed_ || in_use_ >= config_.max_pinned) {
    ++stats_.refused;
    return nullptr;
  }
  Pinned* p;
  std::vector<Pinned*>& idle = idle_[resp3 ? 1 : 0];
  if (!idle.empty()) {
    p = idle.back();
    idle.pop_back();
    ++stats_.reused;
  } else if (!free_.empty()) {
    p = free_.back();
    free_.pop_back();
    ++stats_.opened;
  } else {
    all_.push_back(std::make_unique<Pinned>(*this, next_serial_++));
    p = all_.back().get();
    ++stats_.opened;
  }
  assert(p->where_ != Pinned::Where::kInUse);
  p->where_ = Pinned::Where::kInUse;
  ++in_use_;
  p->open(&user, resp3);
  p->client_addr_ = user.clientAddress();
  return p;
}

std::string PinnedPool::clientAt(std::string_view laddr) {
  for (const auto& p : all_) {
    // Learned at the first line that may name it: Redis runs (and MONITOR shows) what was pipelined
    // behind the handshake before the handshake's replies are read here.
    bool connected = p->link_ != nullptr && (p->link_->state() == Link::State::kHandshake || p->link_->state() == Link::State::kUp);
    if (p->laddr_.empty() && connected) p->laddr_ = p->link_->localAddress();
    if (!p->laddr_.empty() && p->laddr_ == laddr) return p->client_addr_;
  }
  return {};
}

void PinnedPool::release(Pinned* p, bool reusable) {
  assert(p->user_ != nullptr && p->where_ == Pinned::Where::kInUse && in_use_ > 0);
  --in_use_;
  p->user_ = nullptr;
  // A cluster's pinned connections are not kept idle: the next client may need another node.
  if (reusable && !closed_ && !clustered() && p->up() && p->waiting_.empty() && p->raw_waiting_.empty() && !p->streaming_ &&
      !p->paused_ && p->link_->inflight() == 0 && idle_[p->resp3_ ? 1 : 0].size() < kMaxIdle) {
    p->where_ = Pinned::Where::kIdle;
    idle_[p->resp3_ ? 1 : 0].push_back(p);
    return;
  }
  p->where_ = Pinned::Where::kFree;  // before closing: failures delivered by the close find it free
  p->closeLink("pinned connection released");
  free_.push_back(p);
}

void PinnedPool::dropIdle(Pinned* p) {
  assert(p->where_ == Pinned::Where::kIdle);
  std::vector<Pinned*>& idle = idle_[p->resp3_ ? 1 : 0];
  auto it = std::find(idle.begin(), idle.end(), p);
  if (it != idle.end()) idle.erase(it);
  p->where_ = Pinned::Where::kFree;
  free_.push_back(p);
}

void PinnedPool::markDirty(Pinned* p) {
  if (p->dirty_) return;
  p->dirty_ = true;
  dirty_.push_back(p);
}

void PinnedPool::flush() {
  flushing_.swap(dirty_);
  for (Pinned* p : flushing_) p->flush();
  flushing_.clear();
}

void PinnedPool::onTick() {
  uint64_t now = loop_.nowMs();
  for (auto& p : all_)
    if (p->link_ != nullptr) p->link_->checkDeadlines(now);
}

}  // namespace rcp::backend
