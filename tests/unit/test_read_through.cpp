// In-process tests of the read-through over the real upstream and a scripted fake Redis:
// hits answered in the call, single-flight misses, results never delivered inside get(), a fetch
// detached by an invalidation (its waiters get the reply, the cache gets nothing), an epoch that
// voids every fill in flight, and error kinds.
#include <doctest/doctest.h>

#include "cache/lru_cache.h"
#include "middle_harness.h"
#include "src/proxy/read_through.h"

using rcp::proxy::Lookup;
using rcp::test::Backend;

namespace {
struct TestWaiter final : rcp::proxy::Waiter {
  void onResult(const Lookup& r) override {
    ++calls;
    kind = r.kind;
    value = r.entry ? std::string(r.entry->value()) : std::string();
    message = r.message;
  }
  int calls = 0;
  Lookup::Kind kind = Lookup::Kind::kNil;
  std::string value, message;
};

std::string getCommand(const std::string& key) {
  std::string s;
  rcp::resp::appendCommand(s, {"GET", key});
  return s;
}

struct ReadThroughFixture : Backend {
  rcp::LruCache cache{100, 60000};
  std::optional<rcp::proxy::ReadThrough> rt;
  ReadThroughFixture() {
    start();
    rt.emplace(loop, cache, *upstream, config);
  }
  ~ReadThroughFixture() {
    upstream->close();  // fails what is in flight, so the read-through ends empty
    upstream.reset();
  }
  std::string cached(const std::string& key) {
    rcp::EntryRef e = cache.get(key, loop.nowMs());
    return e ? std::string(e->value()) : std::string("<none>");
  }
};
}  // namespace

TEST_CASE("read-through: concurrent misses for a key cost one fetch, the value is cached, then hits") {
  ReadThroughFixture f;
  TestWaiter w1, w2;
  CHECK_FALSE(f.rt->get("k", w1));
  CHECK_FALSE(f.rt->get("k", w2));
  CHECK(f.rt->inflight() == 1);
  CHECK(f.rt->stats().coalesced == 1);
  f.upstream->flush();
  CHECK(w1.calls + w2.calls == 0);  // never inside get(), nor before the reply
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k"); }));
  f.fake.send("$5\r\nvalue\r\n");
  REQUIRE(f.run([&] { return w2.calls == 1; }));
  CHECK((w1.calls == 1 && w1.kind == Lookup::Kind::kValue && w1.value == "value"));
  CHECK(w2.value == "value");
  CHECK(f.cached("k") == "value");
  TestWaiter w3;
  rcp::EntryRef hit = f.rt->get("k", w3);
  REQUIRE(hit);
  CHECK(hit->value() == "value");
  CHECK(w3.calls == 0);
  CHECK(f.rt->stats().fetches == 1);
  CHECK(f.rt->inflight() == 0);
}

TEST_CASE("read-through: an invalidation before the reply detaches the fetch: it fills nothing") {
  ReadThroughFixture f;
  TestWaiter before, after;
  f.rt->get("k", before);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k"); }));
  // Redis says k changed while the old value is on its way (the "caching in progress" race).
  f.rt->invalidate("k");
  CHECK(f.rt->inflight() == 0);
  f.rt->get("k", after);  // a new fetch, not joined to the detached one
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k") + getCommand("k"); }));
  f.fake.send("$3\r\nold\r\n");
  REQUIRE(f.run([&] { return before.calls == 1; }));
  CHECK(before.value == "old");       // its waiters still get the reply...
  CHECK(f.cached("k") == "<none>");   // ...but it is not stored
  CHECK(f.rt->stats().fills_voided == 1);
  f.fake.send("$3\r\nnew\r\n");
  REQUIRE(f.run([&] { return after.calls == 1; }));
  CHECK(after.value == "new");
  CHECK(f.cached("k") == "new");
}

TEST_CASE("read-through: invalidating everything bumps an epoch that voids every fill in flight") {
  ReadThroughFixture f;
  TestWaiter a, b, c;
  f.rt->get("a", a);
  f.rt->get("b", b);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("a") + getCommand("b"); }));
  f.fake.send("$2\r\nA1\r\n");
  REQUIRE(f.run([&] { return a.calls == 1; }));
  CHECK(f.cached("a") == "A1");
  f.rt->get("c", c);
  REQUIRE(f.run([&] { return f.fake.received().size() == 3 * getCommand("a").size(); }));
  f.rt->invalidateAll();  // e.g. FLUSHALL: a null invalidation message
  CHECK(f.cached("a") == "<none>");
  f.fake.send("$2\r\nB1\r\n$2\r\nC1\r\n");
  REQUIRE(f.run([&] { return c.calls == 1; }));
  CHECK((b.value == "B1" && c.value == "C1"));
  CHECK(f.cached("b") == "<none>");
  CHECK(f.cached("c") == "<none>");
  CHECK(f.rt->stats().fills_voided == 2);
  CHECK(f.cache.size() == 0);
}

TEST_CASE("read-through: nil, WRONGTYPE and other errors are results, and none is cached") {
  ReadThroughFixture f;
  TestWaiter nil, wrong, err;
  f.rt->get("n", nil);
  f.rt->get("h", wrong);
  f.rt->get("e", err);
  REQUIRE(f.run([&] { return f.fake.received().size() == 3 * getCommand("n").size(); }));
  f.fake.send("$-1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n-ERR boom\r\n");
  REQUIRE(f.run([&] { return err.calls == 1; }));
  CHECK(nil.kind == Lookup::Kind::kNil);
  CHECK(wrong.kind == Lookup::Kind::kWrongType);
  CHECK(wrong.message.starts_with("WRONGTYPE"));
  CHECK((err.kind == Lookup::Kind::kBackendError && err.message == "ERR boom"));
  CHECK(f.cache.size() == 0);
}

TEST_CASE("read-through: fetches a lost link could not answer are retried once on the next link") {
  ReadThroughFixture f;
  TestWaiter w1, w2, w3;
  f.rt->get("a", w1);
  f.rt->get("a", w2);
  f.rt->get("b", w3);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("a") + getCommand("b"); }));
  f.fake.dropConnection();  // Redis closed a working link (its timeout, CLIENT KILL): sent again, at once
  REQUIRE(f.run([&] { return f.fake.connections() == 2 && f.fake.received() == getCommand("a") + getCommand("b"); }, 500));
  CHECK(w1.calls + w2.calls + w3.calls == 0);
  CHECK(f.upstream->stats().retried == 2);
  f.fake.dropConnection();  // lost again: once is the limit, so every waiter fails
  REQUIRE(f.run([&] { return w3.calls == 1; }));
  for (TestWaiter* w : {&w1, &w2, &w3}) {
    CHECK(w->calls == 1);
    CHECK(w->kind == Lookup::Kind::kUnavailable);
  }
  CHECK(f.rt->inflight() == 0);
}

TEST_CASE("read-through: a retried fetch is answered on the new link") {
  ReadThroughFixture f;
  TestWaiter w;
  f.rt->get("k", w);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k"); }));
  f.fake.dropConnection();
  REQUIRE(f.run([&] { return f.fake.connections() == 2 && f.fake.received() == getCommand("k"); }, 500));
  f.fake.send("$1\r\nv\r\n");
  REQUIRE(f.run([&] { return w.calls == 1; }));
  CHECK((w.kind == Lookup::Kind::kValue && w.value == "v"));
  CHECK(f.cached("k") == "v");
}

TEST_CASE("read-through: under tracking a fill asks the key's PTTL with it, and the entry dies when the key does") {
  ReadThroughFixture f;
  f.config.tracking = rcp::Config::Tracking::kDefault;
  std::string pttl = rcp::test::command({"PTTL", "k"});
  TestWaiter w;
  f.rt->get("k", w);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k") + pttl; }));
  f.fake.sendByteByByte("$1\r\nv\r\n:500\r\n");  // 500 ms left in Redis, the reply split everywhere
  REQUIRE(f.run([&] { return w.calls == 1; }));
  CHECK(w.value == "v");
  uint64_t now = f.loop.nowMs();
  CHECK(f.cache.get("k", now + 400));
  CHECK_FALSE(f.cache.get("k", now + 600));  // --ttl is a minute: the key's own life won
  CHECK(f.rt->stats().key_ttl_capped == 1);
  // gone between the GET and the PTTL (-2): served to the waiter, not stored
  TestWaiter gone;
  f.rt->get("g", gone);
  std::string pttl_g = rcp::test::command({"PTTL", "g"});
  REQUIRE(f.run([&] { return f.fake.received().ends_with(getCommand("g") + pttl_g); }));
  f.fake.send("$1\r\nx\r\n:-2\r\n");
  REQUIRE(f.run([&] { return gone.calls == 1; }));
  CHECK(gone.value == "x");
  CHECK(f.cached("g") == "<none>");
  // an MGET's misses: one MGET and a PTTL per key, each key's own life
  TestWaiter a, b;
  rcp::proxy::Waiter* ws[] = {&a, &b};
  std::string_view keys[] = {"a", "b"};
  rcp::EntryRef hits[2];
  f.rt->getMany(2, keys, ws, hits);
  std::string mget = rcp::test::command({"MGET", "a", "b"}) + rcp::test::command({"PTTL", "a"}) +
                     rcp::test::command({"PTTL", "b"});
  REQUIRE(f.run([&] { return f.fake.received().ends_with(mget); }));
  f.fake.sendByteByByte("*2\r\n$2\r\nva\r\n$2\r\nvb\r\n:-1\r\n:300\r\n");
  REQUIRE(f.run([&] { return a.calls == 1 && b.calls == 1; }));
  now = f.loop.nowMs();
  CHECK(f.cache.get("a", now + 30000));      // no expiry in Redis: --ttl
  CHECK(f.cache.get("b", now + 200));
  CHECK_FALSE(f.cache.get("b", now + 400));
}

TEST_CASE("read-through: stale-if-error serves an expired value when Redis times out, never an invalidated one") {
  ReadThroughFixture f;
  f.config.stale_if_error_ms = 5000;
  f.config.backend_timeout_ms = 150;
  f.cache.setTtl(100);
  f.cache.setGrace(5000);
  TestWaiter w1;
  f.rt->get("k", w1);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k"); }));
  f.fake.send("$3\r\nold\r\n");
  REQUIRE(f.run([&] { return w1.calls == 1; }));
  CHECK(f.cached("k") == "old");
  rcp::test::runFor(&f.uv.uv, 120);  // past its life
  CHECK(f.cached("k") == "<none>");
  // Redis does not answer: by the deadline the expired value is served instead of the timeout
  TestWaiter w2;
  size_t sent = f.fake.received().size();
  CHECK_FALSE(f.rt->get("k", w2));
  REQUIRE(f.run([&] { return f.fake.received().size() > sent; }));
  REQUIRE(f.run([&] { return w2.calls == 1; }, 3000));
  CHECK(w2.kind == Lookup::Kind::kValue);
  CHECK(w2.value == "old");
  CHECK(f.rt->stats().stale_served == 1);
  // an invalidated key has nothing stale to give: the error reaches the client
  REQUIRE(f.run([&] { return f.fake.connected() && f.upstream->up(); }, 3000));
  TestWaiter w3;
  f.rt->get("j", w3);
  REQUIRE(f.run([&] { return f.fake.received().ends_with(getCommand("j")); }));
  f.fake.send("$1\r\nv\r\n");
  REQUIRE(f.run([&] { return w3.calls == 1; }));
  rcp::test::runFor(&f.uv.uv, 120);
  f.rt->invalidate("j");
  TestWaiter w4;
  sent = f.fake.received().size();
  f.rt->get("j", w4);
  REQUIRE(f.run([&] { return w4.calls == 1; }, 3000));
  CHECK(w4.kind == Lookup::Kind::kTimeout);
  CHECK(f.rt->stats().stale_served == 1);
}

TEST_CASE("read-through: refresh-ahead: a late hit is served at once and starts one background fetch a miss joins") {
  ReadThroughFixture f;
  f.config.refresh_ahead = 0.5;
  f.cache.setTtl(400);
  TestWaiter w1;
  f.rt->get("k", w1);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k"); }));
  f.fake.send("$2\r\nv1\r\n");
  REQUIRE(f.run([&] { return w1.calls == 1; }));
  TestWaiter unused;
  rcp::EntryRef e = f.rt->get("k", unused);  // early in its life: a plain hit
  REQUIRE(e);
  f.upstream->flush();
  rcp::test::runFor(&f.uv.uv, 20);
  CHECK(f.fake.received() == getCommand("k"));
  CHECK(f.rt->stats().refreshes_ahead == 0);
  rcp::test::runFor(&f.uv.uv, 230);  // past half its life
  e = f.rt->get("k", unused);
  REQUIRE(e);                        // served at once
  CHECK(e->value() == "v1");
  CHECK(f.rt->stats().refreshes_ahead == 1);
  e = f.rt->get("k", unused);        // a second late hit: the refresh in flight is enough
  CHECK(f.rt->stats().refreshes_ahead == 1);
  REQUIRE(f.run([&] { return f.fake.received() == getCommand("k") + getCommand("k"); }));
  rcp::test::runFor(&f.uv.uv, 200);  // the old entry expires while the refresh is in flight
  TestWaiter w2;
  CHECK_FALSE(f.rt->get("k", w2));   // the miss joins the refresh: no second GET
  CHECK(f.rt->stats().coalesced == 1);
  f.fake.send("$2\r\nv2\r\n");
  REQUIRE(f.run([&] { return w2.calls == 1; }));
  CHECK(w2.value == "v2");
  CHECK(f.cached("k") == "v2");
  CHECK(f.fake.received() == getCommand("k") + getCommand("k"));
  CHECK(unused.calls == 0);
}
