// The tracking hub without sockets: clients as peers that collect what they are sent; the modes
// (default, OPTIN/OPTOUT with CACHING, BCAST, NOLOOP, REDIRECT), Redis's errors, the table's
// limits, the writer's invalidations after its reply, null when the proxy cannot know.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "src/client/tracking_hub.h"

using rcp::client::TrackingHub;

namespace {
struct Peer final : rcp::client::TrackingPeer {
  int proto = 3;
  bool subscribed = false;
  std::string got;
  int trackingProto() const noexcept override { return proto; }
  bool trackingSubscribed() const noexcept override { return subscribed; }
  void trackingPush(std::string_view b) override { got.append(b); }
  std::string take() { return std::exchange(got, std::string()); }
};

struct Fixture {
  rcp::Config config;
  std::unique_ptr<TrackingHub> hub;
  std::vector<std::unique_ptr<Peer>> peers;
  std::vector<std::unique_ptr<TrackingHub::Client>> clients;
  std::vector<std::string> upstream_prefixes;
  Fixture() {
    hub = std::make_unique<TrackingHub>(config);
    hub->onPrefixesChanged([this](const std::vector<std::string>& p) { upstream_prefixes = p; });
  }
  TrackingHub::Client& add(int proto = 3) {
    peers.push_back(std::make_unique<Peer>());
    peers.back()->proto = proto;
    clients.push_back(std::make_unique<TrackingHub::Client>());
    TrackingHub::Client& c = *clients.back();
    c.id = clients.size();
    c.peer = peers.back().get();
    hub->join(c);
    return c;
  }
  Peer& peer(const TrackingHub::Client& c) { return *static_cast<Peer*>(c.peer); }
  std::string run(TrackingHub::Client& c, std::vector<std::string_view> args, int proto = 3) {
    std::string out;
    REQUIRE(hub->command(c, args, proto, out));
    return out;
  }
};

std::string push(std::string_view key) {
  return ">2\r\n$10\r\ninvalidate\r\n*1\r\n$" + std::to_string(key.size()) + "\r\n" + std::string(key) + "\r\n";
}
}  // namespace

TEST_CASE("tracking hub: default mode, a key reported once to each reader, then forgotten") {
  Fixture f;
  auto& a = f.add();
  auto& b = f.add();
  auto& idle = f.add();
  CHECK(f.run(a, {"CLIENT", "TRACKING", "on"}) == "+OK\r\n");
  CHECK(f.run(b, {"CLIENT", "TRACKING", "ON"}) == "+OK\r\n");
  f.hub->read(a, "k");
  f.hub->read(a, "k");  // read twice: told once
  f.hub->read(b, "k");
  f.hub->read(idle, "k");  // not tracking: nothing remembered
  CHECK(f.hub->keys() == 1);
  f.hub->keyChanged("k", false);
  CHECK(f.peer(a).take() == push("k"));
  CHECK(f.peer(b).take() == push("k"));
  CHECK(f.peer(idle).take().empty());
  f.hub->keyChanged("k", false);  // forgotten until read again
  CHECK(f.peer(a).take().empty());
  CHECK(f.hub->keys() == 0);
  // Tracking off: the reader is skipped; the last one off empties the table.
  f.hub->read(a, "x");
  CHECK(f.run(a, {"CLIENT", "TRACKING", "off"}) == "+OK\r\n");
  f.hub->keyChanged("x", false);
  CHECK(f.peer(a).take().empty());
  CHECK(f.run(b, {"CLIENT", "TRACKING", "off"}) == "+OK\r\n");
  CHECK(f.hub->clients() == 0);
}

TEST_CASE("tracking hub: many readers of one key, each told once") {
  Fixture f;
  std::vector<TrackingHub::Client*> all;
  for (int i = 0; i < 100; ++i) {
    all.push_back(&f.add());
    f.run(*all.back(), {"CLIENT", "TRACKING", "on"});
  }
  for (int round = 0; round < 3; ++round)
    for (auto* c : all) f.hub->read(*c, "hot");
  f.hub->keyChanged("hot", true);
  for (auto* c : all) CHECK(f.peer(*c).take() == push("hot"));
}

TEST_CASE("tracking hub: OPTIN and OPTOUT follow CLIENT CACHING for one command") {
  Fixture f;
  auto& in = f.add();
  auto& out = f.add();
  CHECK(f.run(in, {"CLIENT", "CACHING", "yes"}) ==
        "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n");
  f.run(in, {"CLIENT", "TRACKING", "on", "OPTIN"});
  f.run(out, {"CLIENT", "TRACKING", "on", "OPTOUT"});
  CHECK(f.run(in, {"CLIENT", "CACHING", "no"}) ==
        "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n");
  CHECK(f.run(out, {"CLIENT", "CACHING", "yes"}) ==
        "-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n");
  CHECK(f.run(in, {"CLIENT", "CACHING", "maybe"}) == "-ERR syntax error\r\n");
  f.hub->read(in, "a");  // OPTIN without CACHING yes: not remembered
  f.hub->read(out, "a");  // OPTOUT: remembered
  CHECK(f.run(in, {"CLIENT", "CACHING", "yes"}) == "+OK\r\n");
  f.hub->read(in, "b");
  TrackingHub::commandDone(in);
  f.hub->read(in, "c");  // the flag covered one command
  CHECK(f.run(out, {"CLIENT", "CACHING", "no"}) == "+OK\r\n");
  f.hub->read(out, "d");
  f.hub->keyChanged("a", false);
  f.hub->keyChanged("b", false);
  f.hub->keyChanged("c", false);
  f.hub->keyChanged("d", false);
  CHECK(f.peer(in).take() == push("b"));
  CHECK(f.peer(out).take() == push("a"));
  std::string info = f.run(in, {"CLIENT", "TRACKINGINFO"});
  CHECK(info.find("$5\r\noptin\r\n") != std::string::npos);
}

TEST_CASE("tracking hub: Redis's errors for CLIENT TRACKING's options") {
  Fixture f;
  auto& c = f.add();
  auto& other = f.add();
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "PREFIX", "a"}) == "-ERR PREFIX option requires BCAST mode to be enabled\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "BCAST", "OPTIN"}) == "-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"}) == "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "REDIRECT", "99"}) == "-ERR The client ID you want redirect to does not exist\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "REDIRECT", "x"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "REDIRECT", "2", "REDIRECT", "2"}) ==
        "-ERR A client can only redirect to a single other client\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "NOPE"}) == "-ERR syntax error\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "maybe"}) == "-ERR syntax error\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c", "PREFIX", "cd"}) ==
        "-ERR Prefix 'c' overlaps with another provided prefix 'cd'. Prefixes for a single client must not overlap.\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"}) == "+OK\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab"}) ==
        "-ERR Prefix 'ab' overlaps with an existing prefix 'a'. Prefixes for a single client must not overlap.\r\n");
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on"}) ==
        "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it "
        "with a different mode.\r\n");
  f.run(other, {"CLIENT", "TRACKING", "on", "OPTIN"});
  CHECK(f.run(other, {"CLIENT", "TRACKING", "on", "OPTOUT"}).starts_with("-ERR You can't switch OPTIN/OPTOUT mode"));
  CHECK(f.run(other, {"CLIENT", "GETREDIR"}) == ":0\r\n");
  f.run(other, {"CLIENT", "TRACKING", "off"});
  CHECK(f.run(other, {"CLIENT", "GETREDIR"}) == ":-1\r\n");
  std::string ignored;
  CHECK_FALSE(f.hub->command(c, {"CLIENT", "GETREDIR", "extra"}, 3, ignored));
  CHECK_FALSE(f.hub->command(c, {"CLIENT", "TRACKING"}, 3, ignored));
}

TEST_CASE("tracking hub: BCAST prefixes batched per turn, the upstream told of the set, the per-client limit") {
  Fixture f;
  f.config.tracking_max_prefixes = 3;
  auto& b = f.add();
  auto& all = f.add();
  CHECK(f.run(b, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "cart:"}) == "+OK\r\n");
  CHECK(f.upstream_prefixes == std::vector<std::string>{"cart:", "user:"});
  CHECK(f.run(all, {"CLIENT", "TRACKING", "on", "BCAST"}) == "+OK\r\n");
  CHECK(f.upstream_prefixes == std::vector<std::string>{"", "cart:", "user:"});
  f.hub->keyChanged("user:2", false);
  f.hub->keyChanged("user:1", false);
  f.hub->keyChanged("user:1", false);
  f.hub->keyChanged("other", false);
  f.hub->keyChanged("cart:9", true);  // a write through the proxy: Redis's report of it follows
  CHECK(f.peer(b).got.empty());
  f.hub->flush();
  CHECK(f.peer(b).take() == ">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
  CHECK(f.peer(all).take() == ">2\r\n$10\r\ninvalidate\r\n*3\r\n$5\r\nother\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n");
  CHECK(f.run(b, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y"}) ==
        "-ERR too many tracking prefixes for one client (--tracking-max-prefixes 3)\r\n");
  std::string info = f.run(b, {"CLIENT", "TRACKINGINFO"}, 2);
  CHECK(info == "*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*2\r\n"
                "$5\r\ncart:\r\n$5\r\nuser:\r\n");
  f.run(all, {"CLIENT", "TRACKING", "off"});
  CHECK(f.upstream_prefixes == std::vector<std::string>{"cart:", "user:"});
  f.hub->leave(b);
  CHECK(f.upstream_prefixes.empty());
}

TEST_CASE("tracking hub: REDIRECT to a RESP2 subscriber, to a RESP3 client, and broken") {
  Fixture f;
  auto& sub = f.add(2);
  auto& plain2 = f.add(2);
  auto& t2 = f.add(2);
  auto& t3 = f.add(3);
  f.peer(sub).subscribed = true;
  CHECK(f.run(t2, {"CLIENT", "TRACKING", "on", "REDIRECT", "1"}, 2) == "+OK\r\n");
  f.hub->read(t2, "k");
  f.hub->keyChanged("k", false);
  CHECK(f.peer(sub).take() == "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");
  CHECK(f.peer(t2).take().empty());
  f.hub->read(t2, "k");
  f.hub->allChanged();  // null in the tracking client's protocol
  CHECK(f.peer(sub).take() == "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
  // A RESP2 target not subscribed gets nothing (Redis's rule); RESP2 without a redirect neither.
  CHECK(f.run(t2, {"CLIENT", "TRACKING", "on", "REDIRECT", "2"}, 2) == "+OK\r\n");
  f.hub->read(t2, "k");
  f.hub->keyChanged("k", false);
  CHECK(f.peer(plain2).take().empty());
  // The target leaves: a RESP3 tracker hears tracking-redir-broken, and TRACKINGINFO says so.
  CHECK(f.run(t3, {"CLIENT", "TRACKING", "on", "REDIRECT", "1"}) == "+OK\r\n");
  f.hub->read(t3, "k");
  f.hub->leave(sub);
  f.hub->keyChanged("k", false);
  CHECK(f.peer(t3).take() == ">2\r\n$21\r\ntracking-redir-broken\r\n:1\r\n");
  CHECK(f.run(t3, {"CLIENT", "TRACKINGINFO"}).find("broken_redirect") != std::string::npos);
}

TEST_CASE("tracking hub: the writer hears of its write after the reply; NOLOOP not at all") {
  Fixture f;
  auto& w = f.add();
  auto& quiet = f.add();
  auto& reader = f.add();
  f.run(w, {"CLIENT", "TRACKING", "on"});
  f.run(quiet, {"CLIENT", "TRACKING", "on", "NOLOOP"});
  f.run(reader, {"CLIENT", "TRACKING", "on"});
  for (auto* c : {&w, &quiet, &reader}) f.hub->read(*c, "k");
  f.hub->beginWrite(w);
  f.hub->keyChanged("k", true);
  CHECK(f.peer(w).got.empty());  // deferred: the write's reply is queued first
  CHECK(f.peer(reader).take() == push("k"));
  f.peer(w).got = "+OK\r\n";  // what the session queues meanwhile
  f.hub->endWrite();
  CHECK(f.peer(w).take() == "+OK\r\n" + push("k"));
  CHECK(f.peer(quiet).take() == push("k"));  // NOLOOP skips its own writes only
  for (auto* c : {&quiet, &reader}) f.hub->read(*c, "k");
  f.hub->beginWrite(quiet);
  f.hub->keyChanged("k", true);
  f.hub->endWrite();
  CHECK(f.peer(quiet).take().empty());
  CHECK(f.peer(reader).take() == push("k"));
}

TEST_CASE("tracking hub: --tracking-table-max-keys invalidates the oldest keys for their readers") {
  Fixture f;
  f.config.tracking_table_max_keys = 3;
  auto& c = f.add();
  f.run(c, {"CLIENT", "TRACKING", "on"});
  for (std::string_view k : {"k1", "k2", "k3"}) f.hub->read(c, k);
  CHECK(f.peer(c).got.empty());
  f.hub->read(c, "k4");
  CHECK(f.peer(c).take() == push("k1"));
  f.hub->read(c, "k5");
  CHECK(f.peer(c).take() == push("k2"));
  CHECK(f.hub->keys() == 3);
  CHECK(f.hub->stats().evicted_keys == 2);
  f.hub->keyChanged("k4", false);
  CHECK(f.peer(c).take() == push("k4"));
  CHECK(f.hub->keys() == 2);
}

TEST_CASE("tracking hub: null to every tracking client when the proxy cannot know, and refusal when it does not track") {
  Fixture f;
  auto& a = f.add(3);
  auto& b = f.add(3);
  f.run(a, {"CLIENT", "TRACKING", "on"});
  f.run(b, {"CLIENT", "TRACKING", "on", "BCAST"});
  f.hub->read(a, "k");
  f.hub->allChanged();
  CHECK(f.peer(a).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
  CHECK(f.peer(b).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
  CHECK(f.hub->keys() == 0);
  bool ready = false;
  f.hub->setReadiness([&ready](std::string* why) {
    *why = "it is off (--tracking off)";
    return ready;
  });
  auto& c = f.add();
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on"}) ==
        "-ERR CLIENT TRACKING through the proxy needs the proxy's own tracking of Redis: it is off (--tracking off)\r\n");
  CHECK_FALSE(c.on());
  // The BCAST client whose prefix was new and which read meanwhile hears a null once Redis covers it.
  ready = true;
  CHECK(f.run(c, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"}) == "+OK\r\n");
  auto& d = f.add();
  CHECK(f.run(d, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "q"}) == "+OK\r\n");
  f.hub->read(c, "p1");
  f.hub->bcastCovered();
  CHECK(f.peer(c).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
  CHECK(f.peer(d).take().empty());  // it read nothing: it holds nothing
  // Nulls in a row with no read between them are one (each tracked link reports a FLUSHALL).
  f.hub->allChanged();
  CHECK(f.peer(d).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
  f.hub->allChanged();
  CHECK(f.peer(d).take().empty());
  f.hub->read(d, "q1");
  f.hub->allChanged();
  CHECK(f.peer(d).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
}

TEST_CASE("tracking hub: a connection that tracked for some clients is gone: those that may hold something hear a null") {
  Fixture f;
  auto& a = f.add();
  auto& b = f.add();
  auto& idle = f.add();
  for (auto* c : {&a, &b}) f.run(*c, {"CLIENT", "TRACKING", "on"});
  f.hub->read(a, "k");
  f.hub->nullFor({a.id, idle.id, 999});  // idle does not track; 999 is gone
  CHECK(f.peer(a).take() == ">2\r\n$10\r\ninvalidate\r\n_\r\n");
  CHECK(f.peer(b).take().empty());
  CHECK(f.peer(idle).take().empty());
  f.hub->delivered();
  CHECK(f.hub->deliveryLatency().count() == 1);
}
