// Coherence with Redis (see coherence.h).
#include "src/proxy/coherence.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "resp/reply.h"
#include "src/proxy/bcast_link.h"

namespace rcp::proxy {

namespace {
constexpr std::string_view kChannel = "__redis__:invalidate";
}  // namespace

// One node's coherence: its invalidation link, and the tracking state of its filling link.
class Coherence::Tracker final : private backend::LinkOwner, private backend::FrameSink {
 public:
  Tracker(Coherence& owner, backend::NodeId node, std::string host, uint16_t port)
      : owner_(owner), node_(node),
        options_(backend::LinkOptions::fromRedis(host, port, owner.config_.redis.user, owner.config_.redis.password, 0,
                                                 owner.config_.backend_timeout_ms,
                                                 owner.config_.max_backend_reply_bytes)),
        client_id_(*this), host_(host), port_(port) {
    options_.tls = owner.tls_;
    options_.null3 = true;  // the RESP3 link's FLUSHALL null comes here in RESP3's spelling
    name_ = host + ":" + std::to_string(port);
  }
  ~Tracker() { close("node closed"); }

  backend::NodeId node() const noexcept { return node_; }
  bool on() const noexcept { return tracking_on_; }
  bool at(std::string_view host, uint16_t port) const noexcept { return host == host_ && port == port_; }
  long long redirectId() const noexcept { return subscribed_ ? redirect_id_ : 0; }

  // --- the clients' tracking: the RESP3 links' nodes at this address, and the BCAST link
  void addExtra(backend::NodeId n) {
    extra_.push_back(n);
    if (subscribed_) sendExtraOn(n);
  }
  bool removeExtra(backend::NodeId n) {
    auto it = std::find(extra_.begin(), extra_.end(), n);
    if (it == extra_.end()) return false;
    extra_.erase(it);
    return true;
  }
  void bcastSet() {
    if (!subscribed_) return;  // done once subscribed: the reports need the redirect id
    if (owner_.client_prefixes_.empty() && bcast_ == nullptr) return;
    if (bcast_ == nullptr) {
      BcastLink::Hooks hooks{[this] { owner_.clientsLost(); }, [this](uint64_t) { owner_.bcastApplied(); }};
      bcast_ = std::make_unique<BcastLink>(owner_.loop_, options_, owner_.link_stats_, owner_.latency_, std::move(hooks));
    }
    bcast_->set(redirect_id_, owner_.client_prefixes_, owner_.prefixes_gen_);
  }
  uint64_t bcastGen() const noexcept { return bcast_ != nullptr ? bcast_->appliedGen() : 0; }

  void connect() {
    if (link_ != nullptr || !owner_.active()) return;
    subscribed_ = false;
    ping_sent_ms_ = 0;
    reconnect_at_ms_ = 0;
    link_ = new backend::Link(owner_.loop_, options_, *this, owner_.link_stats_, owner_.latency_);
    link_->open();
  }
  void close(std::string_view why) {
    if (backend::Link* l = std::exchange(link_, nullptr)) l->close(why);
  }
  void flush() {
    if (link_ != nullptr) link_->flush();
    if (bcast_ != nullptr) bcast_->flush();
  }

  void dataUp() {
    data_up_ = true;
    if (!owner_.active()) return;
    if (subscribed_) sendTrackingOn();
    else connect();
  }
  void dataDown() {
    data_up_ = false;
    if (!owner_.active()) return;
    // Redis forgets what the lost connection read: invalidations for it will never come.
    if (tracking_on_ || owner_.rt_.nodeStoring(node_)) owner_.rt_.invalidateAllBy(ReadThrough::DropCause::kReconnect);
    owner_.rt_.setNodeStoring(node_, false);
    tracking_on_ = false;
    ++generation_;
  }
  void cacheChanged() {
    if (owner_.active() && !tracking_on_ && subscribed_ && data_up_) sendTrackingOn();
  }

  void tick(uint64_t now) {
    if (bcast_ != nullptr) bcast_->tick(now);
    if (link_ == nullptr) {
      if (reconnect_at_ms_ != 0 && now >= reconnect_at_ms_) connect();
      return;
    }
    link_->checkDeadlines(now);
    if (link_ == nullptr || !subscribed_) return;
    if (ping_sent_ms_ != 0 && now - ping_sent_ms_ >= kPingDeadlineMs) {
      close("no answer to PING");
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

  void trackingReply(uint64_t generation, bool ok, std::string_view error) {
    if (generation != generation_) return;  // an older connection's
    if (ok) {
      tracking_on_ = true;
      spdlog::info("coherence: CLIENT TRACKING on for {} ({} mode, redirect to client id {})", name_,
                   owner_.modeName(), redirect_id_);
      return;
    }
    owner_.refused("CLIENT TRACKING", error);
  }
  void stop() {  // tracking refused or turned off: no more links
    close("tracking refused");
    tracking_on_ = false;
    reconnect_at_ms_ = 0;
  }

 private:
  // CLIENT ID on the invalidation link: the id the filling link redirects its invalidations to.
  class ClientId final : public backend::Request {
   public:
    explicit ClientId(Tracker& t) : t_(t) {}
    void encode(std::string& out) const override { resp::appendCommand(out, {"CLIENT", "ID"}); }
    void onReply(const resp::Frame& reply) override {
      resp::FrameView r = reply.root();
      if (r.type() == resp::FrameType::kInteger) t_.gotClientId(r.integer());
      else t_.owner_.refused("CLIENT ID", r.type() == resp::FrameType::kError ? r.str() : "unexpected reply");
    }
    void onFailure(backend::Failure, std::string_view) override {}  // the link is failing: onLinkDown follows

   private:
    Tracker& t_;
  };

  void onLinkUp(backend::Link& link) override { link.send(&client_id_); }
  void onLinkReplies(backend::Link&) override {}
  void onLinkDown(backend::Link&, std::string_view why, std::vector<backend::Request*>&) override {
    link_ = nullptr;
    if (subscribed_) {
      lost(ReadThrough::DropCause::kLinkLost, why);
    } else if (attempt_ == 0) {
      spdlog::warn("coherence: the invalidation link to {} cannot connect: {}; what it serves is not cached until it does",
                   name_, why);
    }
    subscribed_ = false;
    scheduleReconnect();
  }

  void gotClientId(long long id) {
    if (link_ == nullptr) return;
    redirect_id_ = id;
    std::string sub;
    resp::appendCommand(sub, {"SUBSCRIBE", kChannel});
    link_->setSink(this);
    link_->sendRaw(sub);
  }

  void scheduleReconnect() {
    if (!owner_.active()) return;
    uint64_t delay = std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
    ++attempt_;
    reconnect_at_ms_ = owner_.loop_.nowMs() + delay;
  }

  void lost(ReadThrough::DropCause cause, std::string_view why) {
    spdlog::warn("coherence: the invalidation link to {} was lost ({}): the cache is dropped and what that node "
                 "serves is not stored until tracking is back", name_, why);
    owner_.rt_.invalidateAllBy(cause);
    owner_.rt_.setNodeStoring(node_, false);
    tracking_on_ = false;
    subscribed_ = false;
    ++generation_;  // a CLIENT TRACKING ON on its way names the old id
  }

  // FrameSink: what the invalidation link streams. Only three shapes may come: the confirmation
  // of the one SUBSCRIBE, the answer to an outstanding PING, and a message of the channel (keys,
  // or null). Anything else means the link is not what the proxy thinks it is (a proxy in
  // between, a corrupted stream, a confused server): it can no longer vouch for the cache, so the
  // link counts as lost, exactly as if it had closed. Nothing else counts as a sign of life.
  void onFrame(const resp::Frame& frame) override {
    resp::FrameView r = frame.root();
    std::string_view kind = r.type() == resp::FrameType::kArray && r.size() >= 2 && r[0].type() == resp::FrameType::kBulk
                                ? r[0].str()
                                : std::string_view();
    auto onChannel = [&] { return r.size() == 3 && r[1].type() == resp::FrameType::kBulk && r[1].str() == kChannel; };
    if (kind == "subscribe" && !subscribed_ && onChannel() && r[2].type() == resp::FrameType::kInteger &&
        r[2].integer() == 1) {
      alive();
      subscribed_ = true;
      attempt_ = 0;
      spdlog::info("coherence: invalidations from {} arrive on client id {}", name_, redirect_id_);
      if (data_up_) sendTrackingOn();
      for (backend::NodeId n : extra_) sendExtraOn(n);
      if (!extra_.empty()) owner_.clientsLost();  // the RESP3 links' reads until now were not covered
      bcastSet();
      return;
    }
    if (kind == "pong" && subscribed_ && ping_sent_ms_ != 0 && r.size() == 2) {
      alive();
      return;
    }
    if (kind == "message" && subscribed_ && onChannel()) {
      resp::FrameView payload = r[2];
      if (payload.isNil() || payload.type() == resp::FrameType::kNull) {
        // Redis writes a null bulk ($-1), or RESP3's null for a RESP3 tracking client (the RESP3
        // link's); a null array is taken the same.
        alive();
        ++owner_.stats_.messages;
        // Null: FLUSHALL, FLUSHDB, a replica's full resync: everything the node held may have changed.
        owner_.rt_.invalidateAllBy(ReadThrough::DropCause::kNullMessage);
        return;
      }
      if (payload.type() == resp::FrameType::kArray && payload.size() > 0) {
        size_t n = payload.size();
        bool keys = true;
        resp::FrameView k = payload[0];
        for (size_t i = 0; i < n; ++i, k = i < n ? k.next() : k) keys &= k.type() == resp::FrameType::kBulk;
        if (keys) {
          alive();
          ++owner_.stats_.messages;
          k = payload[0];
          for (size_t i = 0; i < n; ++i, k = i < n ? k.next() : k) {
            ++owner_.stats_.keys;
            owner_.rt_.invalidate(k.str());
          }
          return;
        }
      }
    }
    std::string shown;
    r.encode(shown);
    if (shown.size() > 64) shown.resize(64);
    for (char& c : shown)
      if (c < ' ' || c > '~') c = ' ';
    ++owner_.stats_.unexpected;
    close("unexpected frame on the invalidation link");
    lost(ReadThrough::DropCause::kLinkLost, "unexpected frame on the invalidation link: " + shown);
    scheduleReconnect();
  }
  void alive() {
    last_frame_ms_ = owner_.loop_.nowMs();
    ping_sent_ms_ = 0;
  }

  void sendTrackingOn();
  void sendExtraOn(backend::NodeId n);

  Coherence& owner_;
  backend::NodeId node_;
  std::string name_;
  backend::LinkOptions options_;
  backend::Link* link_ = nullptr;  // the invalidation link; frees itself once closed
  ClientId client_id_;
  long long redirect_id_ = -1;     // the invalidation link's client id, once subscribed
  bool subscribed_ = false;
  bool data_up_ = false;
  bool tracking_on_ = false;       // the node accepted CLIENT TRACKING on its current filling link
  uint64_t generation_ = 0;        // of the last CLIENT TRACKING ON; older replies are stale
  uint64_t last_frame_ms_ = 0;
  uint64_t ping_sent_ms_ = 0;      // 0: no PING outstanding
  uint64_t reconnect_at_ms_ = 0;   // 0: none scheduled
  unsigned attempt_ = 0;
  std::string host_;
  uint16_t port_;
  std::vector<backend::NodeId> extra_;  // the RESP3 links' nodes at this address
  std::unique_ptr<BcastLink> bcast_;    // while clients track BCAST prefixes
};

// CLIENT TRACKING ON REDIRECT <id> on a link that runs RESP3 clients' commands (their reads are
// tracked for the clients' own tracking); frees itself.
class ExtraOn final : public backend::Request {
 public:
  ExtraOn(std::function<void(std::string_view)> refused, long long redirect)
      : refused_(std::move(refused)), redirect_(std::to_string(redirect)) {}
  void encode(std::string& out) const override { resp::appendCommand(out, {"CLIENT", "TRACKING", "ON", "REDIRECT", redirect_}); }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    if (r.type() == resp::FrameType::kError) refused_(r.str());
    delete this;
  }
  void onFailure(backend::Failure, std::string_view) override { delete this; }  // the link's down event follows

 private:
  std::function<void(std::string_view)> refused_;
  std::string redirect_;
};

// CLIENT TRACKING ON REDIRECT <id> on a node's filling link; frees itself once answered or failed.
class Coherence::TrackingOn final : public backend::Request {
 public:
  TrackingOn(Coherence& owner, backend::NodeId target, uint64_t generation, std::vector<std::string> args)
      : owner_(owner), node_(target), generation_(generation), args_(std::move(args)) {}
  void encode(std::string& out) const override {
    std::vector<std::string_view> a(args_.begin(), args_.end());
    resp::appendCommand(out, a);
  }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    if (Tracker* t = owner_.tracker(node_))
      t->trackingReply(generation_, r.type() != resp::FrameType::kError, r.type() == resp::FrameType::kError ? r.str() : "");
    delete this;
  }
  void onFailure(backend::Failure, std::string_view) override {
    delete this;  // the filling link failed: its down event drops what it read
  }

 private:
  Coherence& owner_;
  backend::NodeId node_;
  uint64_t generation_;
  std::vector<std::string> args_;
};

void Coherence::Tracker::sendTrackingOn() {
  // With the cache off (--ttl 0, --cache-keys 0) nothing is stored: tracking would only make Redis
  // remember every key read. cacheChanged() turns it on if a reload turns the cache on.
  if (!owner_.rt_.cacheEnabled()) return;
  const Config& config = owner_.config_;
  std::vector<std::string> args{"CLIENT", "TRACKING", "ON", "REDIRECT", std::to_string(redirect_id_)};
  if (config.tracking == Config::Tracking::kBcast) {
    args.emplace_back("BCAST");
    for (const std::string& p : config.tracking_prefixes) {
      args.emplace_back("PREFIX");
      args.push_back(p);
    }
  }
  ++generation_;
  auto* r = new TrackingOn(owner_, node_, generation_, std::move(args));
  r->timeout_ms = config.backend_timeout_ms;
  owner_.data_.submitTo(node_, r);
  // The reads sent after it on the same link are tracked; those sent before are voided.
  owner_.rt_.setNodeStoring(node_, true);
}

void Coherence::Tracker::sendExtraOn(backend::NodeId n) {
  if (owner_.extra_ == nullptr || !owner_.clientTrackingReady(nullptr)) return;
  std::string name = name_;
  Coherence& owner = owner_;
  auto* r = new ExtraOn(
      [&owner, name](std::string_view why) {
        spdlog::warn("client tracking: {} refused CLIENT TRACKING on the RESP3 link: {}", name, why);
        owner.clientsLost();
      },
      redirect_id_);
  r->timeout_ms = owner_.config_.backend_timeout_ms;
  owner_.extra_->submitTo(n, r);
}

Coherence::Coherence(Loop& loop, const Config& config, ReadThrough& read_through, backend::Upstream& data,
                     net::TlsEndpoint* tls)
    : loop_(loop), config_(config), tls_(tls), rt_(read_through), data_(data) {
  uv_timer_init(loop_.uv(), &tick_);
  tick_.data = this;
  data_.onUp([this](backend::NodeId n) { nodeUp(n); });
  data_.onDown([this](backend::NodeId n) { nodeDown(n); });
  data_.onGone([this](backend::NodeId n) { nodeGone(n); });
  data_.onMoved([this] { slotsMoved(); });
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

bool Coherence::on() const noexcept {
  if (trackers_.empty()) return false;
  for (const auto& t : trackers_)
    if (!t->on()) return false;
  return true;
}

size_t Coherence::trackedNodes() const noexcept {
  size_t n = 0;
  for (const auto& t : trackers_) n += t->on() ? 1 : 0;
  return n;
}

const char* Coherence::stateName() const noexcept {
  if (config_.tracking == Config::Tracking::kOff) return "off";
  if (refused_) return "ttl-only";
  bool on_now = on();
  if (!on_now && !rt_.cacheEnabled()) return "cache-off";  // nothing to keep coherent
  return on_now ? "on" : "connecting";
}

Coherence::Tracker* Coherence::tracker(backend::NodeId node) const noexcept {
  for (const auto& t : trackers_)
    if (t->node() == node) return t.get();
  return nullptr;
}

void Coherence::start() {
  if (config_.tracking == Config::Tracking::kOff) return;
  started_ = true;
  rt_.trackNodes(true);  // nothing is stored until a node's tracking covers its reads
  uv_timer_start(&tick_, [](uv_timer_t* t) noexcept { static_cast<Coherence*>(t->data)->onTick(); }, kTickMs, kTickMs);
}

void Coherence::close() {
  if (closed_) return;
  closed_ = true;
  trackers_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
}

void Coherence::flush() {
  for (auto& t : trackers_) t->flush();
}

void Coherence::onTick() {
  uint64_t now = loop_.nowMs();
  for (size_t i = 0; i < trackers_.size(); ++i) trackers_[i]->tick(now);
}

void Coherence::nodeUp(backend::NodeId node) {
  if (!active()) return;
  Tracker* t = tracker(node);
  if (t == nullptr) {
    std::string host;
    uint16_t port = 0;
    if (!data_.nodeAddress(node, &host, &port)) return;
    trackers_.push_back(std::make_unique<Tracker>(*this, node, host, port));
    t = trackers_.back().get();
    // The RESP3 links to this address that came up first.
    for (auto it = extra_waiting_.begin(); it != extra_waiting_.end();) {
      std::string h;
      uint16_t p = 0;
      if (extra_->nodeAddress(*it, &h, &p) && h == host && p == port) {
        t->addExtra(*it);
        it = extra_waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  t->dataUp();
}

void Coherence::trackAlso(backend::Upstream& extra) {
  extra_ = &extra;
  extra.onReady([this](backend::NodeId n) { extraUp(n); });
  extra.onDown([this](backend::NodeId n) { extraDown(n); });
  extra.onGone([this](backend::NodeId n) { extraDown(n); });
}

// A RESP3 link is ready: its CLIENT TRACKING goes first, ahead of what waited for the link, so it
// covers every read the link runs (with no redirect id yet, the subscription sends it and says
// that what was read meanwhile is not covered).
void Coherence::extraUp(backend::NodeId node) {
  if (!active()) return;
  std::string host;
  uint16_t port = 0;
  if (!extra_->nodeAddress(node, &host, &port)) return;
  for (auto& t : trackers_) {
    if (t->at(host, port)) {
      t->addExtra(node);
      return;
    }
  }
  extra_waiting_.push_back(node);
}

void Coherence::extraDown(backend::NodeId node) {
  // Redis forgets what the lost connection read.
  bool known = std::erase(extra_waiting_, node) > 0;
  for (auto& t : trackers_) known |= t->removeExtra(node);
  if (known) clientsLost();
}

void Coherence::setClientPrefixes(std::vector<std::string> prefixes) {
  client_prefixes_ = std::move(prefixes);
  ++prefixes_gen_;
  for (auto& t : trackers_) t->bcastSet();
  if (client_prefixes_.empty()) bcastApplied();
}

void Coherence::bcastApplied() {
  for (const auto& t : trackers_)
    if (!client_prefixes_.empty() && t->bcastGen() < prefixes_gen_) return;
  if (client_hooks_.covered) client_hooks_.covered();
}

long long Coherence::redirectFor(const std::string& host, uint16_t port) const {
  if (!clientTrackingReady(nullptr)) return 0;
  for (const auto& t : trackers_)
    if (t->at(host, port)) return t->redirectId();
  return 0;
}

bool Coherence::clientTrackingReady(std::string* why) const {
  const char* reason = nullptr;
  if (config_.tracking == Config::Tracking::kOff) reason = "it is off (--tracking off)";
  else if (config_.tracking == Config::Tracking::kBcast)
    reason = "--tracking bcast reports only the keys under --tracking-prefix";
  else if (refused_) reason = "Redis refused CLIENT TRACKING (the proxy is TTL-only)";
  else if (!rt_.cacheEnabled()) reason = "the cache is off (--ttl 0 or --cache-keys 0), so the proxy does not track";
  if (reason != nullptr && why != nullptr) *why = reason;
  return reason == nullptr;
}

void Coherence::nodeDown(backend::NodeId node) {
  if (Tracker* t = tracker(node)) t->dataDown();
}

void Coherence::nodeGone(backend::NodeId node) {
  for (auto it = trackers_.begin(); it != trackers_.end(); ++it) {
    if ((*it)->node() == node) {
      trackers_.erase(it);  // closes its invalidation link
      break;
    }
  }
  rt_.setNodeStoring(node, false);
}

void Coherence::slotsMoved() {
  // What was read from a slot's old owner is tracked there, not by the new owner.
  if (active() && started_) rt_.invalidateAllBy(ReadThrough::DropCause::kSlotMoved);
}

void Coherence::cacheChanged() {
  for (auto& t : trackers_) t->cacheChanged();
}

void Coherence::refused(std::string_view what, std::string_view why) {
  if (config_.tracking == Config::Tracking::kAuto) {
    if (refused_) return;
    spdlog::warn("coherence: the backend refused {} ({}): the cache is TTL-only (--tracking auto); a write made "
                 "to Redis by anyone but this proxy is seen after --ttl", what, why);
    refused_ = true;
    rt_.trackNodes(false);  // every node's answers stored again; what was stored meanwhile is dropped
    rt_.setStoring(true);
    for (auto& t : trackers_) t->stop();
    uv_timer_stop(&tick_);
    return;
  }
  spdlog::error("coherence: the backend refused {} ({}) with --tracking {}: nothing is cached", what, why, modeName());
  rt_.invalidateAll();
  rt_.setStoring(false);
}

}  // namespace rcp::proxy
