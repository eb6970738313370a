// Finding a primary through Redis Sentinel (see sentinel.h).
#include "src/backend/sentinel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "resp/reply.h"

namespace rcp::backend {

namespace {
constexpr std::string_view kSwitchChannel = "+switch-master";
// The failover leader's first step (+selected-slave) and the replica seen promoted: either says the
// primary is about to be replaced (the same payload: the replica, "@", the master).
constexpr std::string_view kSelectedChannel = "+selected-slave";
constexpr std::string_view kPromotedChannel = "+promoted-slave";
constexpr size_t kMaxSentinelReplyBytes = 1 << 20;
constexpr uint64_t kBackoffBaseMs = 100;
constexpr uint64_t kBackoffMaxMs = 2000;

std::string addressOf(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}
}  // namespace

// SENTINEL get-master-addr-by-name on one Sentinel's question link, for one round.
class SentinelWatch::Ask final : public Request {
 public:
  Ask(SentinelWatch& watch, Peer& peer) : watch_(watch), peer_(peer) {}
  void encode(std::string& out) const override {
    resp::appendCommand(out, {"SENTINEL", "get-master-addr-by-name", watch_.config_.sentinel_master});
  }
  void onReply(const resp::Frame& reply) override;
  void onFailure(Failure, std::string_view why) override {
    in_flight = false;
    watch_.onAskFailed(peer_, round, std::string(why));
  }
  uint64_t round = 0;
  bool in_flight = false;

 private:
  SentinelWatch& watch_;
  Peer& peer_;
};

// One Sentinel: its question link and its +switch-master subscription.
class SentinelWatch::Peer final : private LinkOwner, private FrameSink {
 public:
  Peer(SentinelWatch& watch, const BackendAddress& a, NodeId id) : watch_(watch), ask_(watch, *this) {
    const Config& c = watch.config_;
    options_ = LinkOptions::fromRedis(a.host, a.port, a.user, a.password, 0, c.sentinel_timeout_ms,
                                      kMaxSentinelReplyBytes);
    if (a.tls) options_.tls = watch.tls_;
    address_ = a.display();
    query_ = std::make_unique<NodeUpstream>(watch.loop_, c, options_, id, nullptr, &watch.link_stats_,
                                            &watch.latency_, false);
    query_->setKind("sentinel");
  }
  ~Peer() { close(); }

  void start() {
    query_->start();
    subscribe();
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    if (Link* l = std::exchange(sub_, nullptr)) l->close("proxy shutting down");
    query_->close();
  }
  void flush() {
    query_->flush();
    if (sub_ != nullptr) sub_->flush();
  }
  void tick(uint64_t now) {
    if (sub_ != nullptr) sub_->checkDeadlines(now);
    else if (!closed_ && reconnect_at_ms_ != 0 && now >= reconnect_at_ms_) subscribe();
  }

  bool ask(uint64_t round) {
    if (ask_.in_flight) return false;  // the last round's question is still out (it times out)
    ask_.round = round;
    ask_.in_flight = true;
    ask_.timeout_ms = watch_.config_.sentinel_timeout_ms;
    answered = false;
    pending = true;
    query_->submit(&ask_);
    return true;
  }

  const std::string& address() const noexcept { return address_; }
  bool subscribed() const noexcept { return subscribed_; }
  // The last round's outcome.
  bool pending = false;   // asked, not yet answered or failed
  bool answered = false;  // named an address
  std::string host;
  uint16_t port = 0;
  std::string said;       // host:port, or why it did not answer

 private:
  void subscribe() {
    reconnect_at_ms_ = 0;
    subscribed_ = false;
    sub_ = new Link(watch_.loop_, options_, *this, watch_.link_stats_, watch_.latency_);
    sub_->open();
  }
  void onLinkUp(Link& link) override {
    std::string sub;
    resp::appendCommand(sub, {"SUBSCRIBE", kSwitchChannel, kSelectedChannel, kPromotedChannel});
    link.setSink(this);
    link.sendRaw(sub);
  }
  void onLinkReplies(Link&) override {}
  void onLinkDown(Link&, std::string_view why, std::vector<Request*>&) override {
    sub_ = nullptr;
    if (subscribed_ || attempt_ == 0)
      spdlog::warn("sentinel {}: the +switch-master subscription is down: {}", address_, why);
    subscribed_ = false;
    reconnect_at_ms_ = watch_.loop_.nowMs() + std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
    ++attempt_;
  }
  void onFrame(const resp::Frame& frame) override {
    resp::FrameView r = frame.root();
    if (r.type() != resp::FrameType::kArray || r.size() != 3 || r[0].type() != resp::FrameType::kBulk) return;
    if (r[0].str() == "subscribe") {
      subscribed_ = true;
      attempt_ = 0;
      return;
    }
    if (r[0].str() != "message" || r[1].type() != resp::FrameType::kBulk || r[2].type() != resp::FrameType::kBulk) return;
    if (r[1].str() == kSwitchChannel) watch_.onSwitchMessage(r[2].str());
    else if (r[1].str() == kPromotedChannel || r[1].str() == kSelectedChannel)
      watch_.onPromotedMessage(r[1].str(), r[2].str());
  }

  SentinelWatch& watch_;
  LinkOptions options_;
  std::string address_;
  std::unique_ptr<NodeUpstream> query_;
  Ask ask_;
  Link* sub_ = nullptr;  // the subscription; frees itself once closed
  bool subscribed_ = false;
  bool closed_ = false;
  unsigned attempt_ = 0;
  uint64_t reconnect_at_ms_ = 0;
};

void SentinelWatch::Ask::onReply(const resp::Frame& reply) {
  in_flight = false;
  resp::FrameView r = reply.root();
  if (r.type() == resp::FrameType::kArray && r.size() == 2 && r[0].type() == resp::FrameType::kBulk &&
      r[1].type() == resp::FrameType::kBulk) {
    std::string_view ps = r[1].str();
    unsigned port = 0;
    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ec == std::errc() && p == ps.data() + ps.size() && port > 0 && port <= 65535 && !r[0].str().empty()) {
      watch_.onAnswer(peer_, round, std::string(r[0].str()), static_cast<uint16_t>(port));
      return;
    }
  }
  std::string why = r.isNil() ? "does not know master '" + watch_.config_.sentinel_master + "'"
                    : r.type() == resp::FrameType::kError ? std::string(r.str())
                                                          : std::string("unexpected reply");
  watch_.onAskFailed(peer_, round, why);
}

SentinelWatch::SentinelWatch(Loop& loop, const Config& config, net::TlsEndpoint* tls, SentinelListener& listener)
    : loop_(loop), config_(config), tls_(tls), listener_(listener) {
  uv_timer_init(loop_.uv(), &tick_);
  tick_.data = this;
  NodeId id = 1;
  for (const BackendAddress& a : config_.sentinels) peers_.push_back(std::make_unique<Peer>(*this, a, id++));
}

SentinelWatch::~SentinelWatch() = default;

void SentinelWatch::start() {
  uv_timer_start(&tick_, [](uv_timer_t* t) noexcept { static_cast<SentinelWatch*>(t->data)->onTick(); }, kTickMs,
                 kTickMs);
  for (auto& p : peers_) p->start();
  resolveNow();
}

void SentinelWatch::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& p : peers_) p->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
}

void SentinelWatch::flush() {
  for (auto& p : peers_) p->flush();
}

std::vector<SentinelWatch::PeerView> SentinelWatch::peers() const {
  std::vector<PeerView> out;
  for (const auto& p : peers_) out.push_back({p->address(), p->answered, p->subscribed(), p->said});
  return out;
}

void SentinelWatch::resolveNow() {
  if (closed_) return;
  if (in_round_) {
    again_ = true;
    return;
  }
  startRound();
}

void SentinelWatch::resolveSoon() {
  if (closed_ || soon_at_ms_ != 0) return;
  soon_at_ms_ = std::max(loop_.nowMs(), last_round_ms_ + kMinGapMs);
}

void SentinelWatch::startRound() {
  ++round_;
  ++stats_.rounds;
  in_round_ = true;
  decided_ = false;
  again_ = false;
  soon_at_ms_ = 0;
  last_round_ms_ = loop_.nowMs();
  for (auto& p : peers_) p->ask(round_);
  loop_.requestTurnEnd();
}

void SentinelWatch::onAnswer(Peer& peer, uint64_t round, std::string host, uint16_t port) {
  if (round != round_ || closed_) return;
  ++stats_.answers;
  peer.pending = false;
  peer.answered = true;
  peer.said = addressOf(host, port);
  peer.host = std::move(host);
  peer.port = port;
  decide();
}

void SentinelWatch::onAskFailed(Peer& peer, uint64_t round, std::string why) {
  if (round != round_ || closed_) return;
  ++stats_.errors;
  peer.pending = false;
  peer.answered = false;
  peer.said = std::move(why);
  decide();
}

// Counts the round's answers: a majority of every Sentinel decides at once; otherwise the round
// decides once none is pending, by a majority of those that answered.
void SentinelWatch::decide() {
  size_t pending = 0, answered = 0, best = 0;
  const Peer* choice = nullptr;
  for (const auto& p : peers_) {
    pending += p->pending ? 1 : 0;
    if (!p->answered) continue;
    ++answered;
    size_t votes = 0;
    for (const auto& q : peers_) votes += q->answered && q->port == p->port && q->host == p->host ? 1 : 0;
    if (votes > best) {
      best = votes;
      choice = p.get();
    }
  }
  if (!decided_ && choice != nullptr && best * 2 > peers_.size()) {
    decided_ = true;
    listener_.onSentinelMaster(choice->host, choice->port);
  }
  if (pending != 0) return;
  // Those that answered go first: the next round (and INFO) lists them ahead of the silent ones.
  std::stable_partition(peers_.begin(), peers_.end(), [](const auto& p) { return p->answered; });
  if (!decided_) {
    decided_ = true;
    if (choice != nullptr && best * 2 > answered) {
      listener_.onSentinelMaster(choice->host, choice->port);
    } else {
      std::string why = answered == 0 ? "no Sentinel answered for master '" + config_.sentinel_master + "'"
                                      : "the Sentinels disagree about master '" + config_.sentinel_master + "'";
      if (answered != 0) ++stats_.no_majority;
      for (size_t i = 0; i < peers_.size(); ++i) why += (i == 0 ? " (" : "; ") + peers_[i]->address() + ": " + peers_[i]->said;
      why += ")";
      listener_.onSentinelNoMaster(why);
    }
  }
  // Over only now: a round asked for by what the listener did is started here, not inside it.
  in_round_ = false;
  if (again_) startRound();
}

void SentinelWatch::onSwitchMessage(std::string_view payload) {
  // "<master name> <old ip> <old port> <new ip> <new port>": for this master, a round at once
  // (the address is taken from the round, where a majority must agree, not from the message).
  size_t sp = payload.find(' ');
  if (payload.substr(0, sp) != config_.sentinel_master) return;
  ++stats_.messages;
  spdlog::info("sentinel: +switch-master {}", payload);
  resolveNow();
}

void SentinelWatch::onPromotedMessage(std::string_view channel, std::string_view payload) {
  // "slave <ip:port> <ip> <port> @ <master name> <master ip> <master port>"
  std::vector<std::string_view> w;
  for (size_t at = 0; at <= payload.size() && w.size() < 9;) {
    size_t sp = std::min(payload.find(' ', at), payload.size());
    w.push_back(payload.substr(at, sp - at));
    at = sp + 1;
  }
  if (w.size() != 8 || w[4] != "@" || w[5] != config_.sentinel_master) return;
  unsigned port = 0;
  auto [p, ec] = std::from_chars(w[7].data(), w[7].data() + w[7].size(), port);
  if (ec != std::errc() || p != w[7].data() + w[7].size() || port == 0 || port > 65535) return;
  ++stats_.promotions;
  spdlog::info("sentinel: {} {}", channel, payload);
  listener_.onSentinelPromoted(std::string(w[6]), static_cast<uint16_t>(port));
  resolveNow();
}

void SentinelWatch::onTick() {
  uint64_t now = loop_.nowMs();
  for (auto& p : peers_) p->tick(now);
  if (closed_ || in_round_) return;
  if ((soon_at_ms_ != 0 && now >= soon_at_ms_) || now - last_round_ms_ >= config_.sentinel_poll_ms) startRound();
}

}  // namespace rcp::backend
