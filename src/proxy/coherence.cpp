// Coherence with Redis (see coherence.h).
#include "src/proxy/coherence.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "resp/reply.h"

namespace rcp::proxy {

namespace {
constexpr std::string_view kChannel = "__redis__:invalidate";
}  // namespace

// CLIENT ID on the invalidation link: the id the filling link redirects its invalidations to.
class Coherence::ClientId final : public backend::Request {
 public:
  explicit ClientId(Coherence& owner) : owner_(owner) {}
  void encode(std::string& out) const override { resp::appendCommand(out, {"CLIENT", "ID"}); }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    if (r.type() == resp::FrameType::kInteger) owner_.gotClientId(r.integer());
    else owner_.refused("CLIENT ID", r.type() == resp::FrameType::kError ? r.str() : "unexpected reply");
  }
  void onFailure(backend::Failure, std::string_view) override {}  // the link is failing: onLinkDown follows

 private:
  Coherence& owner_;
};

// CLIENT TRACKING ON REDIRECT <id> on the filling link; frees itself once answered or failed.
class Coherence::TrackingOn final : public backend::Request {
 public:
  TrackingOn(Coherence& owner, uint64_t generation, std::vector<std::string> args)
      : owner_(owner), generation_(generation), args_(std::move(args)) {}
  void encode(std::string& out) const override {
    std::vector<std::string_view> a(args_.begin(), args_.end());
    resp::appendCommand(out, a);
  }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    if (generation_ == owner_.generation_)
      owner_.trackingReply(r.type() != resp::FrameType::kError, r.type() == resp::FrameType::kError ? r.str() : "");
    delete this;
  }
  void onFailure(backend::Failure, std::string_view) override {
    delete this;  // the filling link failed: its down event drops what it read
  }

 private:
  Coherence& owner_;
  uint64_t generation_;
  std::vector<std::string> args_;
};

Coherence::Coherence(Loop& loop, const Config& config, ReadThrough& read_through, backend::Upstream& data)
    : loop_(loop), config_(config), rt_(read_through), data_(data),
      options_(backend::LinkOptions::fromRedis(config.redis.host, config.redis.port, config.redis.user,
                                               config.redis.password, 0, config.backend_timeout_ms,
                                               config.max_backend_reply_bytes)),
      client_id_(std::make_unique<ClientId>(*this)) {
  uv_timer_init(loop_.uv(), &tick_);
  uv_timer_init(loop_.uv(), &reconnect_);
  tick_.data = this;
  reconnect_.data = this;
  data_.onUp([this] { dataUp(); });
  data_.onDown([this] { dataDown(); });
}

Coherence::~Coherence() = default;

const char* Coherence::modeName() const noexcept {
  switch (config_.tracking) {
    case Config::Tracking::kAuto: return "auto";
    case Config::Tracking::kDefault: return "default";
    case Config::Tracking::kBcast: return "bcast";
    case Config::Tracking::kOff: break;
  }
  return "off";
}

const char* Coherence::stateName() const noexcept {
  if (config_.tracking == Config::Tracking::kOff) return "off";
  if (refused_) return "ttl-only";
  if (!tracking_on_ && !rt_.cacheEnabled()) return "cache-off";  // nothing to keep coherent
  return tracking_on_ ? "on" : "connecting";
}

void Coherence::start() {
  if (config_.tracking == Config::Tracking::kOff) return;
  rt_.setStoring(false);  // nothing is stored until tracking covers the reads
  uv_timer_start(&tick_, [](uv_timer_t* t) noexcept { static_cast<Coherence*>(t->data)->onTick(); }, kTickMs, kTickMs);
  connect();
}

void Coherence::close() {
  if (closed_) return;
  closed_ = true;
  if (backend::Link* l = std::exchange(link_, nullptr)) l->close("proxy shutting down");
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&reconnect_), nullptr);
}

void Coherence::flush() {
  if (link_ != nullptr) link_->flush();
}

void Coherence::connect() {
  if (closed_ || refused_) return;
  subscribed_ = false;
  ping_sent_ms_ = 0;
  link_ = new backend::Link(loop_, options_, *this, link_stats_, latency_);
  link_->open();
}

void Coherence::scheduleReconnect() {
  if (closed_ || refused_) return;
  uint64_t delay = std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
  ++attempt_;
  uv_timer_start(&reconnect_, [](uv_timer_t* t) noexcept { static_cast<Coherence*>(t->data)->connect(); }, delay, 0);
}

void Coherence::onLinkUp(backend::Link& link) {
  link.send(client_id_.get());
}

void Coherence::gotClientId(long long id) {
  if (link_ == nullptr) return;
  redirect_id_ = id;
  std::string sub;
  resp::appendCommand(sub, {"SUBSCRIBE", kChannel});
  link_->setSink(this);
  link_->sendRaw(sub);
}

void Coherence::onLinkDown(backend::Link&, std::string_view why, std::vector<backend::Request*>&) {
  link_ = nullptr;
  if (subscribed_) {
    lost(ReadThrough::DropCause::kLinkLost, why);
  } else if (attempt_ == 0) {
    spdlog::warn("coherence: the invalidation link cannot connect: {}; nothing is cached until it does", why);
  }
  subscribed_ = false;
  scheduleReconnect();
}

void Coherence::lost(ReadThrough::DropCause cause, std::string_view why) {
  spdlog::warn("coherence: the invalidation link was lost ({}): the cache is dropped and nothing is stored "
               "until tracking is back", why);
  rt_.invalidateAllBy(cause);
  rt_.setStoring(false);
  rt_.setTracked(false);
  tracking_on_ = false;
  subscribed_ = false;
  ++generation_;  // a CLIENT TRACKING ON on its way names the old id
}

void Coherence::onFrame(const resp::Frame& frame) {
  last_frame_ms_ = loop_.nowMs();
  ping_sent_ms_ = 0;  // anything from Redis shows the link is alive
  resp::FrameView r = frame.root();
  if (r.type() != resp::FrameType::kArray || r.size() < 2 || r[0].type() != resp::FrameType::kBulk) return;
  std::string_view kind = r[0].str();
  if (kind == "subscribe") {
    subscribed_ = true;
    attempt_ = 0;
    spdlog::info("coherence: invalidations arrive on client id {}", redirect_id_);
    if (data_up_) sendTrackingOn();
    return;
  }
  if (kind != "message" || r.size() != 3) return;  // "pong", or a confirmation
  ++stats_.messages;
  resp::FrameView payload = r[2];
  if (payload.type() == resp::FrameType::kArray) {
    size_t n = payload.size();
    if (n == 0) return;
    resp::FrameView k = payload[0];
    for (size_t i = 0; i < n; ++i, k = i < n ? k.next() : k) {
      ++stats_.keys;
      rt_.invalidate(k.str());
    }
    return;
  }
  // Null: FLUSHALL, FLUSHDB, a replica's full resync: everything Redis held may have changed.
  rt_.invalidateAllBy(ReadThrough::DropCause::kNullMessage);
}

void Coherence::onTick() {
  uint64_t now = loop_.nowMs();
  if (link_ == nullptr) return;
  link_->checkDeadlines(now);
  if (link_ == nullptr || !subscribed_) return;
  if (ping_sent_ms_ != 0 && now - ping_sent_ms_ >= kPingDeadlineMs) {
    backend::Link* l = std::exchange(link_, nullptr);
    l->close("no answer to PING");
    lost(ReadThrough::DropCause::kPingDeadline, "no answer to PING within 3 s");
    scheduleReconnect();
    return;
  }
  if (ping_sent_ms_ == 0 && now - last_frame_ms_ >= kPingEveryMs) {
    std::string ping;
    resp::appendCommand(ping, {"PING"});
    link_->sendRaw(ping);
    ping_sent_ms_ = now;
  }
}

void Coherence::dataUp() {
  data_up_ = true;
  if (config_.tracking == Config::Tracking::kOff || refused_) return;
  if (subscribed_) sendTrackingOn();
}

void Coherence::dataDown() {
  data_up_ = false;
  if (config_.tracking == Config::Tracking::kOff || refused_) return;
  // Redis forgets what the lost connection read: invalidations for it will never come.
  if (tracking_on_ || rt_.storing()) rt_.invalidateAllBy(ReadThrough::DropCause::kReconnect);
  rt_.setStoring(false);
  rt_.setTracked(false);
  tracking_on_ = false;
  ++generation_;
}

void Coherence::sendTrackingOn() {
  // With the cache off (--ttl 0, --cache-keys 0) nothing is stored: tracking would only make Redis
  // remember every key read. cacheChanged() turns it on if a reload turns the cache on.
  if (!rt_.cacheEnabled()) return;
  std::vector<std::string> args{"CLIENT", "TRACKING", "ON", "REDIRECT", std::to_string(redirect_id_)};
  if (config_.tracking == Config::Tracking::kBcast) {
    args.emplace_back("BCAST");
    for (const std::string& p : config_.tracking_prefixes) {
      args.emplace_back("PREFIX");
      args.push_back(p);
    }
  }
  ++generation_;
  auto* r = new TrackingOn(*this, generation_, std::move(args));
  r->timeout_ms = config_.backend_timeout_ms;
  data_.submit(r);
  // The reads sent after it on the same link are tracked; those sent before are voided.
  rt_.setStoring(true);
}

void Coherence::cacheChanged() {
  if (config_.tracking == Config::Tracking::kOff || refused_ || tracking_on_) return;
  if (subscribed_ && data_up_) sendTrackingOn();
}

void Coherence::trackingReply(bool ok, std::string_view error) {
  if (ok) {
    tracking_on_ = true;
    rt_.setTracked(true);
    spdlog::info("coherence: CLIENT TRACKING on ({} mode, redirect to client id {})", modeName(), redirect_id_);
    return;
  }
  refused("CLIENT TRACKING", error);
}

void Coherence::refused(std::string_view what, std::string_view why) {
  if (config_.tracking == Config::Tracking::kAuto) {
    spdlog::warn("coherence: the backend refused {} ({}): the cache is TTL-only (--tracking auto); a write made "
                 "to Redis by anyone but this proxy is seen after --ttl", what, why);
    refused_ = true;
    rt_.setTracked(false);
    rt_.invalidateAll();  // whatever was stored meanwhile was stored on the promise of tracking
    rt_.setStoring(true);
    tracking_on_ = false;
    if (backend::Link* l = std::exchange(link_, nullptr)) l->close("tracking refused");
    uv_timer_stop(&tick_);
    return;
  }
  spdlog::error("coherence: the backend refused {} ({}) with --tracking {}: nothing is cached", what, why, modeName());
  rt_.setTracked(false);
  rt_.invalidateAll();
  rt_.setStoring(false);
  tracking_on_ = false;
}

}  // namespace rcp::proxy
