// In-process tests of coherence against a scripted fake Redis, for the orderings a real Redis
// does not produce on demand: the invalidation arriving (on its own connection) before the GET
// reply it makes stale, and the invalidation link going silent.
#include <doctest/doctest.h>

#include "cache/lru_cache.h"
#include "middle_harness.h"
#include "src/proxy/coherence.h"
#include "src/proxy/read_through.h"

using rcp::proxy::Lookup;
using rcp::test::Backend;
using rcp::test::command;

namespace {
struct Got final : rcp::proxy::Waiter {
  void onResult(const Lookup& r) override {
    ++calls;
    value = r.entry ? std::string(r.entry->value()) : std::string("<nil>");
  }
  int calls = 0;
  std::string value;
};


// The filling link is connection 0 of the fake, the invalidation link connection 1.
struct CoherenceFixture : Backend {
  rcp::LruCache cache{100, 60000};
  std::optional<rcp::proxy::ReadThrough> rt;
  std::optional<rcp::proxy::Coherence> coherence;
  CoherenceFixture() {
    config.tracking = rcp::Config::Tracking::kDefault;
    upstream.emplace(loop, config);
    rt.emplace(loop, cache, *upstream, config);
    coherence.emplace(loop, config, *rt, *upstream);
    loop.start([](void* ctx) noexcept {
      auto* f = static_cast<CoherenceFixture*>(ctx);
      f->upstream->flush();
      f->coherence->flush();
    }, this);
    upstream->start();
    REQUIRE(run([&] { return upstream->up(); }));
    coherence->start();
    REQUIRE(run([&] { return fake.receivedOn(1) == command({"CLIENT", "ID"}); }));
    fake.sendOn(1, ":42\r\n");
    REQUIRE(run([&] { return fake.receivedOn(1).ends_with(command({"SUBSCRIBE", "__redis__:invalidate"})); }));
    fake.sendOn(1, "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n");
    REQUIRE(run([&] { return fake.receivedOn(0) == command({"CLIENT", "TRACKING", "ON", "REDIRECT", "42"}); }));
    fake.sendOn(0, "+OK\r\n");
    REQUIRE(run([&] { return coherence->on(); }));
  }
  ~CoherenceFixture() {
    upstream->close();
    coherence->close();
    upstream.reset();
  }
  std::string cached(const std::string& key) {
    rcp::EntryRef e = cache.get(key, loop.nowMs());
    return e ? std::string(e->value()) : std::string("<none>");
  }
};
}  // namespace

TEST_CASE("coherence: an invalidation that arrives before the GET reply it makes stale leaves nothing stored") {
  CoherenceFixture f;
  size_t sent = f.fake.receivedOn(0).size();
  Got first;
  f.rt->get("k", first);
  std::string fill = command({"GET", "k"}) + command({"PTTL", "k"});
  REQUIRE(f.run([&] { return f.fake.receivedOn(0).substr(sent) == fill; }));
  // Another client writes k: Redis's invalidation, on the other connection, overtakes the reply.
  f.fake.sendOn(1, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");
  REQUIRE(f.run([&] { return f.coherence->stats().keys == 1; }));
  f.fake.sendOn(0, "$3\r\nold\r\n:-1\r\n");
  REQUIRE(f.run([&] { return first.calls == 1; }));
  CHECK(first.value == "old");        // the client that asked gets what Redis answered...
  CHECK(f.cached("k") == "<none>");   // ...but the proxy keeps nothing that Redis said is stale
  // the next read fetches again and stores the new value; an invalidation then drops it
  Got second;
  f.rt->get("k", second);
  REQUIRE(f.run([&] { return f.fake.receivedOn(0).substr(sent) == fill + fill; }));
  f.fake.sendOn(0, "$3\r\nnew\r\n:-1\r\n");
  REQUIRE(f.run([&] { return second.calls == 1; }));
  CHECK(f.cached("k") == "new");
  f.fake.sendOn(1, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");
  REQUIRE(f.run([&] { return f.cached("k") == "<none>"; }));
  // a null invalidation (FLUSHALL) voids every fill in flight
  Got third;
  f.rt->get("j", third);
  REQUIRE(f.run([&] { return f.fake.receivedOn(0).ends_with(command({"PTTL", "j"})); }));
  f.fake.sendOn(1, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
  REQUIRE(f.run([&] { return f.rt->stats().drops_null_message == 1; }));
  f.fake.sendOn(0, "$1\r\nv\r\n:-1\r\n");
  REQUIRE(f.run([&] { return third.calls == 1; }));
  CHECK(f.cached("j") == "<none>");
}

TEST_CASE("coherence: an invalidation link that stops answering PING drops the cache and stores nothing") {
  CoherenceFixture f;
  size_t sent = f.fake.receivedOn(0).size();
  Got g;
  f.rt->get("k", g);
  REQUIRE(f.run([&] { return f.fake.receivedOn(0).size() > sent; }));
  f.fake.sendOn(0, "$1\r\nv\r\n:-1\r\n");
  REQUIRE(f.run([&] { return g.calls == 1; }));
  CHECK(f.cached("k") == "v");
  // the fake never answers the PING sent after a second of silence: 3 s later the link counts as lost
  REQUIRE(f.run([&] { return f.fake.receivedOn(1).ends_with(command({"PING"})); }, 2500));
  REQUIRE(f.run([&] { return f.rt->stats().drops_ping_deadline == 1; }, 4000));
  CHECK(f.cached("k") == "<none>");
  CHECK_FALSE(f.rt->storing());
  CHECK_FALSE(f.coherence->on());
}

TEST_CASE("coherence: anything on the invalidation link but its three shapes counts as a lost link") {
  const std::vector<std::string> garbage = {
      ":1\r\n",                                                                  // an integer
      "*2\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n",                  // a message of two elements
      "*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:2\r\n",                          // another channel's confirmation
      "*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n*1\r\n$1\r\nk\r\n",                // another channel's message
      "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n:5\r\n",    // keys that are not strings
      "*2\r\n$4\r\npong\r\n$0\r\n\r\n",                                          // a PING reply nobody asked for
      "+OK\r\n",
  };
  for (const std::string& g : garbage) {
    CAPTURE(g);
    CoherenceFixture f;
    size_t sent = f.fake.receivedOn(0).size();
    Got got;
    f.rt->get("k", got);
    REQUIRE(f.run([&] { return f.fake.receivedOn(0).size() > sent; }));
    f.fake.sendOn(0, "$1\r\nv\r\n:-1\r\n");
    REQUIRE(f.run([&] { return got.calls == 1; }));
    CHECK(f.cached("k") == "v");
    f.fake.sendOn(1, g);
    REQUIRE(f.run([&] { return f.rt->stats().drops_link_lost == 1; }));
    CHECK(f.cached("k") == "<none>");  // a change it may have hidden is never served from the cache
    CHECK_FALSE(f.coherence->on());
    CHECK(f.coherence->stats().unexpected == 1);
    CHECK(f.coherence->stats().messages == 0);
    // A new invalidation link is opened (CLIENT ID again, on connection 2).
    REQUIRE(f.run([&] { return f.fake.connections() == 3 && f.fake.receivedOn(2) == command({"CLIENT", "ID"}); }));
  }
}
