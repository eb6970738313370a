// One node's BCAST tracking for the proxy's clients (see bcast_link.h).
#include "src/proxy/bcast_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "resp/frame.h"
#include "resp/reply.h"

namespace rcp::proxy {

// One command on the link; frees itself once answered or failed. The last step of an application
// of the prefix set reports it done.
class BcastLink::Step final : public backend::Request {
 public:
  enum class Kind : uint8_t { kPart, kLast, kExec, kPing };
  Step(BcastLink& owner, uint64_t link_gen, uint64_t gen, Kind kind, std::vector<std::string> args)
      : owner_(owner), link_gen_(link_gen), gen_(gen), kind_(kind), args_(std::move(args)) {}
  void encode(std::string& out) const override {
    std::vector<std::string_view> a(args_.begin(), args_.end());
    resp::appendCommand(out, a);
  }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    bool ok = r.type() != resp::FrameType::kError;
    std::string error = ok ? std::string() : std::string(r.str());
    if (ok && kind_ == Kind::kExec) {  // EXEC: null (aborted) or one reply per command, none an error
      ok = r.type() == resp::FrameType::kArray && r.size() > 0;
      for (size_t i = 0; ok && i < r.size(); ++i) {
        resp::FrameView e = r[i];
        if (e.type() == resp::FrameType::kError) {
          ok = false;
          error = std::string(e.str());
        }
      }
      if (!ok && error.empty()) error = "the transaction was aborted";
    }
    if (link_gen_ == owner_.link_gen_) owner_.stepDone(gen_, kind_ == Kind::kLast || kind_ == Kind::kExec, ok, error);
    delete this;
  }
  void onFailure(backend::Failure, std::string_view) override { delete this; }  // the link's down event follows

 private:
  BcastLink& owner_;
  uint64_t link_gen_, gen_;
  Kind kind_;
  std::vector<std::string> args_;
};

BcastLink::BcastLink(Loop& loop, backend::LinkOptions options, backend::UpstreamStats& stats, LatencyHistogram& latency,
                     Hooks hooks)
    : loop_(loop), options_(std::move(options)), stats_(stats), latency_(latency), hooks_(std::move(hooks)) {}

BcastLink::~BcastLink() {
  ++link_gen_;
  if (backend::Link* l = std::exchange(link_, nullptr)) l->close("clients' BCAST tracking no longer needed");
}

void BcastLink::set(long long redirect, const std::vector<std::string>& prefixes, uint64_t gen) {
  // Reports went to a redirect that has gone until the new one is applied: what was read meanwhile
  // is not vouched for.
  if (redirect_ != -1 && redirect != redirect_) recovering_ = true;
  redirect_ = redirect;
  prefixes_ = prefixes;
  gen_ = gen;
  idle_since_ms_ = prefixes_.empty() ? loop_.nowMs() : 0;
  if (link_ == nullptr) {
    if (reconnect_at_ms_ == 0 && !prefixes_.empty()) open();
    return;
  }
  if (up_) apply();
}

void BcastLink::open() {
  reconnect_at_ms_ = 0;
  up_ = false;
  sent_on_ = false;
  applied_gen_ = 0;
  ++link_gen_;
  link_ = new backend::Link(loop_, options_, *this, stats_, latency_);
  link_->open();
}

void BcastLink::onLinkUp(backend::Link&) {
  up_ = true;
  attempt_ = 0;
  last_ping_ms_ = loop_.nowMs();
  apply();
}

std::vector<std::string> BcastLink::onArgs() const {
  std::vector<std::string> a{"CLIENT", "TRACKING", "ON", "REDIRECT", std::to_string(redirect_), "BCAST"};
  for (const std::string& p : prefixes_) {
    if (p.empty()) continue;  // "" is every key: BCAST with no PREFIX
    a.emplace_back("PREFIX");
    a.push_back(p);
  }
  if (std::find(prefixes_.begin(), prefixes_.end(), std::string()) != prefixes_.end()) a.resize(6);
  return a;
}

void BcastLink::apply() {
  uint64_t timeout = options_.connect_timeout_ms;
  auto send = [&](Step::Kind kind, std::vector<std::string> args) {
    auto* s = new Step(*this, link_gen_, gen_, kind, std::move(args));
    s->timeout_ms = timeout;
    link_->send(s);
  };
  if (prefixes_.empty()) {  // nobody asks: off, and the link kept a while for the next one who does
    if (sent_on_) send(Step::Kind::kLast, {"CLIENT", "TRACKING", "OFF"});
    sent_on_ = false;
    return;
  }
  if (!sent_on_) {  // the connection tracks nothing yet
    sent_on_ = true;
    send(Step::Kind::kLast, onArgs());
    return;
  }
  // Off and on again in one transaction: Redis takes no prefix away from a BCAST client otherwise,
  // and no write can fall between the two.
  send(Step::Kind::kPart, {"MULTI"});
  send(Step::Kind::kPart, {"CLIENT", "TRACKING", "OFF"});
  send(Step::Kind::kPart, onArgs());
  send(Step::Kind::kExec, {"EXEC"});
}

void BcastLink::stepDone(uint64_t gen, bool last, bool ok, std::string_view error) {
  if (!ok) {
    fail("Redis refused the clients' BCAST tracking: " + std::string(error));
    return;
  }
  if (!last) return;
  applied_gen_ = std::max(applied_gen_, gen);
  if (recovering_ && !prefixes_.empty()) {  // covered again after a gap: a null for what was read in it
    recovering_ = false;
    if (hooks_.lost) hooks_.lost();
  }
  if (hooks_.applied) hooks_.applied(gen);
}

void BcastLink::fail(std::string_view why) {
  if (!prefixes_.empty())
    spdlog::warn("client tracking: the BCAST link to {}:{} failed: {}", options_.host, options_.port, why);
  ++link_gen_;
  if (backend::Link* l = std::exchange(link_, nullptr)) l->close(why);
  up_ = false;
  applied_gen_ = 0;
  if (prefixes_.empty()) return;  // nothing was covered: nothing lost, nothing to make again
  recovering_ = true;
  uint64_t delay = std::min(kBackoffBaseMs << std::min(attempt_, 10u), kBackoffMaxMs);
  ++attempt_;
  reconnect_at_ms_ = loop_.nowMs() + delay;
  if (hooks_.lost) hooks_.lost();
}

void BcastLink::onLinkDown(backend::Link&, std::string_view why, std::vector<backend::Request*>&) {
  link_ = nullptr;
  fail(why);
}

void BcastLink::tick(uint64_t now_ms) {
  if (link_ == nullptr) {
    if (reconnect_at_ms_ != 0 && now_ms >= reconnect_at_ms_) open();
    return;
  }
  link_->checkDeadlines(now_ms);
  if (link_ != nullptr && idle_since_ms_ != 0 && now_ms - idle_since_ms_ >= kIdleCloseMs) {
    ++link_gen_;
    std::exchange(link_, nullptr)->close("no client tracks a BCAST prefix");
    up_ = false;
    return;
  }
  if (link_ == nullptr || !up_ || now_ms - last_ping_ms_ < kPingEveryMs) return;
  last_ping_ms_ = now_ms;
  auto* ping = new Step(*this, link_gen_, gen_, Step::Kind::kPing, {"PING"});
  ping->timeout_ms = kPingTimeoutMs;
  link_->send(ping);
}

void BcastLink::flush() {
  if (link_ != nullptr) link_->flush();
}

}  // namespace rcp::proxy
