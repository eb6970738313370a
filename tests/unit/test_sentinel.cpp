// The Sentinel-following policy (TopologyUpstream with --sentinel) against scripted fake Sentinels
// and data nodes on loopback: what real Sentinels cannot produce on demand. Two disagreeing with a
// third silent, +switch-master arriving while the old primary's link is still up and answering, a
// switch in the middle of a pipeline (what was written drains from the old primary, what was not
// goes to the new one), a node that answers ROLE as a replica.
#include <doctest/doctest.h>

#include <array>
#include <deque>
#include <functional>
#include <optional>

#include "middle_harness.h"
#include "src/backend/topology_upstream.h"

using namespace rcp;
using rcp::test::FakeRedis;
using rcp::test::Recorder;

namespace {

// One RESP command (an array of bulk strings) from the front of buf, or nothing while incomplete.
std::optional<std::vector<std::string>> takeCommand(std::string& buf) {
  if (buf.empty() || buf[0] != '*') return std::nullopt;
  size_t end = buf.find("\r\n");
  if (end == std::string::npos) return std::nullopt;
  size_t n = std::stoul(buf.substr(1, end - 1)), pos = end + 2;
  std::vector<std::string> args;
  for (size_t i = 0; i < n; ++i) {
    end = buf.find("\r\n", pos);
    if (end == std::string::npos) return std::nullopt;
    size_t len = std::stoul(buf.substr(pos + 1, end - pos - 1));
    if (buf.size() < end + 2 + len + 2) return std::nullopt;
    args.push_back(buf.substr(end + 2, len));
    pos = end + 2 + len + 2;
  }
  buf.erase(0, pos);
  return args;
}

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }

// A fake server whose commands are answered by a handler (per connection, in order); a handler
// returning nothing leaves the command unanswered (held) for the test to answer by hand.
struct Scripted {
  explicit Scripted(uv_loop_t* loop) : fake(loop) {}
  FakeRedis fake;
  std::vector<size_t> seen;                    // bytes of each connection already parsed
  std::vector<std::string> pending;            // unparsed bytes per connection
  std::vector<std::vector<std::string>> log;   // every command, in arrival order, as "conn:cmd"
  std::function<std::optional<std::string>(size_t conn, const std::vector<std::string>&)> handler;

  void pump() {
    for (size_t i = 0; i < fake.connections(); ++i) {
      if (seen.size() <= i) {
        seen.push_back(0);
        pending.emplace_back();
      }
      const std::string& in = fake.receivedOn(i);
      if (in.size() > seen[i]) {
        pending[i] += in.substr(seen[i]);
        seen[i] = in.size();
      }
      while (auto cmd = takeCommand(pending[i])) {
        log.push_back(*cmd);
        if (auto reply = handler(i, *cmd)) fake.sendOn(i, *reply);
      }
    }
  }
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const auto& c : log) n += !c.empty() && c[0] == name ? 1 : 0;
    return n;
  }
};

constexpr const char* kMaster = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";

struct Set {
  test::UvLoop uv;
  Loop loop{&uv.uv};
  std::array<std::unique_ptr<Scripted>, 3> sentinels;
  Scripted a{&uv.uv}, b{&uv.uv};
  std::array<std::optional<uint16_t>, 3> names;  // the data port each Sentinel names (none: nil)
  std::array<bool, 3> silent{};                  // a Sentinel that never answers
  std::vector<std::pair<size_t, size_t>> subscribed;  // (sentinel, connection) of SUBSCRIBE
  bool hold_gets = false;                        // GETs left for the test to answer
  Config config;
  std::optional<backend::TopologyUpstream> up;
  int switched = 0;

  Set() {
    for (auto& s : sentinels) s = std::make_unique<Scripted>(&uv.uv);
    for (size_t i = 0; i < 3; ++i) {
      sentinels[i]->handler = [this, i](size_t conn, const std::vector<std::string>& c) -> std::optional<std::string> {
        if (c[0] == "PING") return std::string("+PONG\r\n");
        if (c[0] == "SUBSCRIBE") {
          subscribed.emplace_back(i, conn);
          return "*3\r\n" + bulk("subscribe") + bulk(c[1]) + ":1\r\n";
        }
        if (silent[i]) return std::nullopt;
        if (!names[i]) return std::string("*-1\r\n");
        return "*2\r\n" + bulk("127.0.0.1") + bulk(std::to_string(*names[i]));
      };
      BackendAddress s;
      s.port = sentinels[i]->fake.port();
      config.sentinels.push_back(s);
    }
    for (Scripted* d : {&a, &b}) {
      d->handler = [this, d](size_t, const std::vector<std::string>& c) -> std::optional<std::string> {
        if (c[0] == "ROLE") return std::string(kMaster);
        if (c[0] == "GET" && !hold_gets) return bulk(std::string(d == &a ? "a:" : "b:") + c[1]);
        return std::nullopt;
      };
    }
    config.sentinel_master = "m";
    config.sentinel_timeout_ms = 300;
    config.sentinel_poll_ms = 3600000;  // rounds only at start and on +switch-master
    config.backend_timeout_ms = 1500;
    config.tracking = Config::Tracking::kOff;
  }
  ~Set() {
    if (up) up->close();
    loop.close();
    test::runFor(&uv.uv, 30);
  }
  void pumpAll() {
    for (auto& s : sentinels) s->pump();
    a.pump();
    b.pump();
  }
  bool run(const std::function<bool()>& pred, uint64_t ms = 3000) {
    return test::runUntil(&uv.uv, [&] { pumpAll(); return pred(); }, ms);
  }
  void start() {
    up.emplace(loop, config);
    up->onSwitched([this] { ++switched; });
    loop.start([](void* ctx) noexcept { static_cast<Set*>(ctx)->up->flush(); }, this);
    up->start();
  }
  std::string primary() const { return up->primaryName(); }
  std::string nameOf(const Scripted& d) const { return "127.0.0.1:" + std::to_string(d.fake.port()); }
  Recorder* get(std::deque<Recorder>& keep, const std::string& key) {
    keep.emplace_back(std::vector<std::string>{"GET", key}, 1500, false, true);
    up->submit(&keep.back());
    return &keep.back();
  }
  // Every Sentinel names d, and the first one announces it.
  void switchTo(const Scripted& d, const Scripted& from) {
    for (auto& n : names) n = d.fake.port();
    REQUIRE(!subscribed.empty());
    auto [s, conn] = subscribed.front();
    std::string payload = "m 127.0.0.1 " + std::to_string(from.fake.port()) + " 127.0.0.1 " + std::to_string(d.fake.port());
    sentinels[s]->fake.sendOn(conn, "*3\r\n" + bulk("message") + bulk("+switch-master") + bulk(payload));
  }
};

}  // namespace

TEST_CASE("sentinel: a majority of all decides at once; a stale Sentinel is outvoted") {
  Set t;
  t.names = {t.a.fake.port(), t.b.fake.port(), t.b.fake.port()};
  t.start();
  REQUIRE(t.run([&] { return t.up->up(); }));
  CHECK(t.primary() == t.nameOf(t.b));
  CHECK(t.up->primaryConfirmed());
  std::deque<Recorder> keep;
  Recorder* r = t.get(keep, "k");
  REQUIRE(t.run([&] { return r->calls == 1; }));
  CHECK(r->reply == bulk("b:k"));
  CHECK(t.a.fake.connections() == 0);  // the node only the stale Sentinel named is never contacted
  CHECK(t.up->sentinel()->stats().no_majority == 0);
  CHECK(t.switched == 0);
}

TEST_CASE("sentinel: two disagreeing with the third silent decide nothing; a request fails saying so") {
  Set t;
  t.names = {t.a.fake.port(), t.b.fake.port(), std::nullopt};
  t.silent[2] = true;
  t.start();
  REQUIRE(t.run([&] { return t.up->sentinel()->stats().no_majority == 1; }));
  CHECK(t.primary().empty());
  CHECK_FALSE(t.up->up());
  CHECK(std::string(t.up->stateName()) == "no-primary");
  std::deque<Recorder> keep;
  Recorder* r = t.get(keep, "k");
  REQUIRE(t.run([&] { return r->calls == 1; }));
  REQUIRE(r->failure.has_value());
  CHECK(r->detail.find("the Sentinels disagree about master 'm'") != std::string::npos);
  INFO(r->detail);
  CHECK(r->detail.find(":" + std::to_string(t.config.sentinels[2].port) + ": request timed out") != std::string::npos);
  CHECK(t.a.fake.connections() == 0);
  CHECK(t.b.fake.connections() == 0);
}

TEST_CASE("sentinel: +switch-master while the old primary's link is up: its answer drains, new reads go to the new one") {
  Set t;
  t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
  t.start();
  REQUIRE(t.run([&] { return t.up->up() && t.subscribed.size() == 3; }));
  t.hold_gets = true;
  std::deque<Recorder> keep;
  Recorder* before = t.get(keep, "x");
  REQUIRE(t.run([&] { return t.a.count("GET") == 1; }));
  uint64_t rounds = t.up->sentinel()->stats().rounds;
  t.switchTo(t.b, t.a);
  REQUIRE(t.run([&] { return t.switched == 1; }));
  CHECK(t.up->sentinel()->stats().rounds == rounds + 1);  // the message brought a round; the round decided
  CHECK(t.primary() == t.nameOf(t.b));
  Recorder* after = t.get(keep, "y");
  REQUIRE(t.run([&] { return t.b.count("GET") == 1; }));
  CHECK(t.a.count("GET") == 1);  // nothing new reached the old primary
  t.a.fake.send(bulk("a:x"));    // the old primary answers what it was sent
  t.b.fake.send(bulk("b:y"));
  REQUIRE(t.run([&] { return before->calls == 1 && after->calls == 1; }));
  CHECK(before->reply == bulk("a:x"));
  CHECK(after->reply == bulk("b:y"));
  // Drained, the old primary's link closes.
  CHECK(t.a.fake.connections() == 1);
  CHECK(t.run([&] { return t.a.fake.closedByPeer(0); }));
  CHECK(t.up->sentinel()->stats().switches == 1);
}

TEST_CASE("sentinel: a switch in the middle of a pipeline: what was not written goes to the new primary, in order") {
  Set t;
  t.config.max_inflight = 2;
  t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
  t.start();
  REQUIRE(t.run([&] { return t.up->up() && t.subscribed.size() == 3; }));
  t.hold_gets = true;
  std::deque<Recorder> keep;
  std::vector<Recorder*> rs;
  for (int i = 0; i < 5; ++i) rs.push_back(t.get(keep, "k" + std::to_string(i)));
  REQUIRE(t.run([&] { return t.a.count("GET") == 2; }));  // --max-inflight 2: three wait their turn
  t.switchTo(t.b, t.a);
  // --max-inflight holds on the new primary too: two now, the third once one is answered.
  REQUIRE(t.run([&] { return t.switched == 1 && t.b.count("GET") == 2; }));
  t.b.fake.send(bulk("b:k2"));
  REQUIRE(t.run([&] { return t.b.count("GET") == 3; }));
  std::vector<std::string> at_b;
  for (const auto& c : t.b.log)
    if (c[0] == "GET") at_b.push_back(c[1]);
  CHECK(at_b == std::vector<std::string>{"k2", "k3", "k4"});
  CHECK(t.a.count("GET") == 2);
  t.b.fake.send(bulk("b:k3") + bulk("b:k4"));
  t.a.fake.send(bulk("a:k0") + bulk("a:k1"));
  REQUIRE(t.run([&] {
    for (Recorder* r : rs)
      if (r->calls != 1) return false;
    return true;
  }));
  for (int i = 0; i < 5; ++i)
    CHECK(rs[static_cast<size_t>(i)]->reply == bulk(std::string(i < 2 ? "a:" : "b:") + "k" + std::to_string(i)));
}

TEST_CASE("sentinel: a node that answers ROLE as a replica is not used; the request waits, then fails saying why") {
  Set t;
  t.config.backend_timeout_ms = 400;
  t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
  t.a.handler = [](size_t, const std::vector<std::string>& c) -> std::optional<std::string> {
    if (c[0] == "ROLE") return "*5\r\n" + bulk("slave") + bulk("127.0.0.1") + ":6379\r\n" + bulk("connected") + ":0\r\n";
    return bulk("must-not-be-read");
  };
  t.start();
  std::deque<Recorder> keep;
  REQUIRE(t.run([&] { return !t.primary().empty(); }));
  Recorder* r = t.get(keep, "k");
  REQUIRE(t.run([&] { return r->calls == 1; }));
  REQUIRE(r->failure.has_value());
  CHECK(r->detail.find("the node is not the primary (ROLE: slave)") != std::string::npos);
  CHECK_FALSE(t.up->up());
}

namespace {
// "+promoted-slave" for a replica of the primary at from, on the first subscription.
void promoted(Set& t, const Scripted& replica, const Scripted& from) {
  auto [s, conn] = t.subscribed.front();
  std::string rp = std::to_string(replica.fake.port()), fp = std::to_string(from.fake.port());
  std::string payload = "slave 127.0.0.1:" + rp + " 127.0.0.1 " + rp + " @ m 127.0.0.1 " + fp;
  t.sentinels[s]->fake.sendOn(conn, "*3\r\n" + bulk("message") + bulk("+promoted-slave") + bulk(payload));
}
}  // namespace

TEST_CASE("sentinel: +promoted-slave fences the old primary: nothing new reaches it before the switch") {
  Set t;
  t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
  t.start();
  REQUIRE(t.run([&] { return t.up->up() && t.subscribed.size() == 3; }));
  std::deque<Recorder> keep;
  Recorder* first = t.get(keep, "before");
  REQUIRE(t.run([&] { return first->calls == 1; }));
  promoted(t, t.b, t.a);  // the Sentinels still name a: the switch is not announced yet
  REQUIRE(t.run([&] { return t.up->sentinel()->stats().promotions == 1; }));
  CHECK_FALSE(t.up->primaryConfirmed());
  Recorder* during = t.get(keep, "during");
  test::runFor(&t.uv.uv, 200);
  t.pumpAll();
  CHECK(during->calls == 0);     // waiting, not sent to a
  CHECK(t.a.count("GET") == 1);
  t.switchTo(t.b, t.a);
  REQUIRE(t.run([&] { return during->calls == 1; }));
  CHECK(during->reply == bulk("b:during"));
  CHECK(t.a.count("GET") == 1);
  CHECK(t.switched == 1);
}

TEST_CASE("sentinel: a promotion with no switch by --backend-timeout (an aborted failover): the primary serves again") {
  Set t;
  t.config.backend_timeout_ms = 300;
  t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
  t.start();
  REQUIRE(t.run([&] { return t.up->up() && t.subscribed.size() == 3; }));
  promoted(t, t.b, t.a);
  REQUIRE(t.run([&] { return !t.up->primaryConfirmed(); }));
  std::deque<Recorder> keep;
  Recorder* r = t.get(keep, "k");
  test::runFor(&t.uv.uv, 100);
  t.pumpAll();
  CHECK(r->calls == 0);  // fenced: waiting
  // No switch came: once the fence is over, a round naming a again confirms it and r is sent.
  REQUIRE(t.run([&] { return r->calls == 1; }));
  CHECK(r->reply == bulk("a:k"));
  CHECK(t.up->primaryConfirmed());
  // A request whose own deadline ends inside a fence fails with why.
  promoted(t, t.b, t.a);
  REQUIRE(t.run([&] { return !t.up->primaryConfirmed(); }));
  test::runFor(&t.uv.uv, 150);
  t.config.backend_timeout_ms = 100;
  Recorder* late = t.get(keep, "late");
  late->timeout_ms = 100;
  REQUIRE(t.run([&] { return late->calls == 1; }));
  REQUIRE(late->failure.has_value());
  CHECK(late->detail.find("is being replaced (a Sentinel is promoting its replica)") != std::string::npos);
  CHECK(t.switched == 0);
}

TEST_CASE("sentinel: ROLE refused by an ACL leaves the Sentinels' word; any other error refuses the node") {
  for (bool acl : {true, false}) {
    Set t;
    t.names = {t.a.fake.port(), t.a.fake.port(), t.a.fake.port()};
    t.a.handler = [acl](size_t, const std::vector<std::string>& c) -> std::optional<std::string> {
      if (c[0] == "ROLE")
        return std::string(acl ? "-NOPERM User app has no permissions to run the 'role' command\r\n"
                               : "-ERR backend unavailable: no primary known\r\n");
      return bulk("a:" + c[1]);
    };
    t.start();
    std::deque<Recorder> keep;
    REQUIRE(t.run([&] { return !t.primary().empty(); }));
    Recorder* r = t.get(keep, "k");
    REQUIRE(t.run([&] { return r->calls == 1; }));
    if (acl) {
      CHECK(r->reply == bulk("a:k"));
      CHECK(t.up->up());
    } else {
      REQUIRE(r->failure.has_value());
      CHECK(r->detail.find("handshake refused by Redis: ERR backend unavailable") != std::string::npos);
    }
  }
}
