// In-process tests of what the drop-in added beneath the sessions, over the real upstream and a
// scripted fake Redis: an MGET's misses as one backend MGET (joined by GETs), forwarded replies
// relayed as Redis sent them, invalidation again when a write's reply arrives, and pinned
// connections (the --max-pinned bound, reuse of a clean one, loss told to the user, stream mode).
#include <doctest/doctest.h>

#include "cache/lru_cache.h"
#include "middle_harness.h"
#include "src/backend/pinned.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"

using rcp::proxy::Lookup;
using rcp::test::Backend;
using rcp::test::command;

namespace {
struct Result final : rcp::proxy::Waiter {
  void onResult(const Lookup& r) override {
    ++calls;
    kind = r.kind;
    if (r.entry) text = std::string(r.entry->value());
    else if (r.frame != nullptr) r.frame->root().encode(text);
    else text = std::string(r.message);
  }
  int calls = 0;
  Lookup::Kind kind = Lookup::Kind::kNil;
  std::string text;
};

struct Fixture : Backend {
  rcp::LruCache cache{100, 60000};
  std::optional<rcp::proxy::ReadThrough> rt;
  std::optional<rcp::proxy::Forwarder> fw;
  Fixture() {
    start();
    rt.emplace(loop, cache, *upstream, config);
    fw.emplace(*rt);
  }
  ~Fixture() {
    upstream->close();
    upstream.reset();
  }
  bool cached(const std::string& key) { return static_cast<bool>(cache.get(key, loop.nowMs())); }
};

struct User final : rcp::backend::PinnedUser {
  void onPinnedLost(std::string_view why, bool up) override {
    lost = std::string(why);
    was_up = up;
  }
  void onPinnedFrame(const rcp::resp::Frame& f) override { f.root().encode(frames); }
  std::string lost, frames;
  bool was_up = false;
};
}  // namespace

TEST_CASE("read-through: an MGET's misses go to Redis as one MGET, a GET of one of them joins it") {
  Fixture f;
  f.cache.put(rcp::EntryRef::adopt(rcp::Entry::create("hit", "H")).get(), f.cache.hashKey("hit"), f.loop.nowMs());
  Result r0, r1, r2, r3, joined;
  std::string_view keys[] = {"a", "hit", "b", "a"};
  rcp::proxy::Waiter* waiters[] = {&r0, &r1, &r2, &r3};
  rcp::EntryRef hits[4];
  f.rt->getMany(4, keys, waiters, hits);
  CHECK(hits[1]);
  CHECK_FALSE(hits[0]);
  CHECK_FALSE(f.rt->get("b", joined));  // joins the batch fetch of b
  CHECK(f.rt->stats().coalesced == 2);       // the second "a", and the GET of b
  f.upstream->flush();
  REQUIRE(f.run([&] { return f.fake.received() == command({"MGET", "a", "b"}); }));
  CHECK(r0.calls + r2.calls + r3.calls + joined.calls == 0);
  f.fake.sendByteByByte("*2\r\n$2\r\nva\r\n$-1\r\n");
  REQUIRE(f.run([&] { return joined.calls == 1; }));
  CHECK((r0.kind == Lookup::Kind::kValue && r0.text == "va"));
  CHECK((r3.kind == Lookup::Kind::kValue && r3.text == "va"));
  CHECK(r2.kind == Lookup::Kind::kNil);
  CHECK(joined.kind == Lookup::Kind::kNil);
  CHECK(r1.calls == 0);
  CHECK(f.cached("a"));
  CHECK_FALSE(f.cached("b"));
  CHECK(f.rt->stats().batches == 1);
  CHECK(f.rt->inflight() == 0);
}

TEST_CASE("read-through: a write's invalidation detaches an MGET's fetch of that key") {
  Fixture f;
  Result r0, r1;
  std::string_view keys[] = {"x", "y"};
  rcp::proxy::Waiter* waiters[] = {&r0, &r1};
  rcp::EntryRef hits[2];
  f.rt->getMany(2, keys, waiters, hits);
  f.upstream->flush();
  REQUIRE(f.run([&] { return !f.fake.received().empty(); }));
  f.rt->invalidateWritten("x");  // a SET x from a client, before the MGET's reply was read
  f.fake.send("*2\r\n$3\r\nold\r\n$1\r\ny\r\n");
  REQUIRE(f.run([&] { return r1.calls == 1; }));
  CHECK(r0.text == "old");      // the waiter still gets what it asked for
  CHECK_FALSE(f.cached("x"));   // but the old value is not stored
  CHECK(f.cached("y"));
  CHECK(f.rt->stats().write_invalidations == 1);
}

TEST_CASE("forwarder: Redis's reply is relayed as it was sent, keys are invalidated again at the reply") {
  Fixture f;
  f.cache.put(rcp::EntryRef::adopt(rcp::Entry::create("k", "v")).get(), f.cache.hashKey("k"), f.loop.nowMs());
  Result res;
  std::vector<std::string_view> args = {"HGETALL", "h"};
  rcp::proxy::Forwarder::After after;
  after.add("k");
  f.fw->forward(*f.upstream, args, res, 1000, &after);
  CHECK(after.empty());  // taken
  f.upstream->flush();
  REQUIRE(f.run([&] { return f.fake.received() == command({"HGETALL", "h"}); }));
  CHECK(f.cached("k"));       // not yet: only when the reply says the write happened
  std::string reply = "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n*1\r\n:-2\r\n";
  f.fake.sendByteByByte(reply);
  REQUIRE(f.run([&] { return res.calls == 1; }));
  CHECK(res.kind == Lookup::Kind::kReply);
  CHECK(res.text == reply);
  CHECK_FALSE(f.cached("k"));
  CHECK(f.fw->stats().forwarded == 1);
  // Redis does not answer: the forward fails with a timeout, never inside forward()
  Result failed;
  f.fw->forward(*f.upstream, args, failed, 200);
  CHECK(failed.calls == 0);
  REQUIRE(f.run([&] { return failed.calls == 1; }));
  CHECK(failed.kind == Lookup::Kind::kTimeout);
}

TEST_CASE("pinned: bounded by --max-pinned, a clean connection is reused, a lost one is told to its user") {
  Backend b;
  b.config.max_pinned = 1;
  b.fake.answer_client_id = true;
  b.start();
  rcp::backend::PinnedPool pool(b.loop, b.config);
  pool.start();
  User u1, u2;
  rcp::backend::Pinned* p = pool.acquire(u1);
  REQUIRE(p != nullptr);
  CHECK(pool.acquire(u2) == nullptr);
  CHECK(pool.stats().refused == 1);
  rcp::test::Recorder multi({"MULTI"});
  p->submit(&multi);  // queued until the connection is up
  REQUIRE(b.run([&] {
    pool.flush();
    return b.fake.received() == command({"MULTI"});
  }));
  size_t connections = b.fake.connections();
  b.fake.send("+OK\r\n");
  REQUIRE(b.run([&] { return multi.calls == 1; }));
  CHECK(multi.reply == "+OK\r\n");
  pool.release(p, true);
  CHECK(pool.idle() == 1);
  rcp::backend::Pinned* again = pool.acquire(u2);
  CHECK(again == p);
  CHECK(pool.stats().reused == 1);
  CHECK(b.fake.connections() == connections);  // no new connection
  // Stream mode: what Redis sends goes to the user as it comes
  again->setStreaming(true);
  again->sendRaw(command({"SUBSCRIBE", "c"}));
  REQUIRE(b.run([&] {
    pool.flush();
    return b.fake.received().ends_with(command({"SUBSCRIBE", "c"}));
  }));
  b.fake.sendByteByByte("*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n");
  REQUIRE(b.run([&] { return u2.frames.ends_with("$2\r\nhi\r\n"); }));
  CHECK(u2.frames.starts_with("*3\r\n$9\r\nsubscribe"));
  b.fake.dropConnection();
  REQUIRE(b.run([&] { return !u2.lost.empty(); }));
  CHECK(u2.was_up);
  CHECK(pool.stats().lost == 1);
  pool.release(again, false);
  CHECK(pool.inUse() == 0);
  pool.close();
}

TEST_CASE("pinned: a client that lets its connection go from inside a failure gets it back to the pool once") {
  // Nothing listens on the port: the connection fails with a request waiting on it, and the
  // request's failure ends the client's state, which releases the connection there and then.
  rcp::test::UvLoop uv;
  rcp::Loop loop{&uv.uv};
  rcp::Config config;
  {
    rcp::test::FakeRedis gone{&uv.uv};
    gone.answer_client_id = true;
    config.redis.port = gone.port();
  }  // closed: its port now refuses connections
  config.max_pinned = 2;
  rcp::backend::PinnedPool pool(loop, config);
  pool.start();
  struct Releaser final : rcp::backend::Request {
    void encode(std::string& out) const override { rcp::resp::appendCommand(out, {"MULTI"}); }
    void onReply(const rcp::resp::Frame&) override {}
    void onFailure(rcp::backend::Failure, std::string_view) override {
      ++failed;
      pool->release(pinned, false);
    }
    rcp::backend::PinnedPool* pool = nullptr;
    rcp::backend::Pinned* pinned = nullptr;
    int failed = 0;
  } req;
  User u;
  req.pool = &pool;
  req.pinned = pool.acquire(u);
  REQUIRE(req.pinned != nullptr);
  req.pinned->submit(&req);
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return req.failed == 1; }));
  rcp::test::runFor(&uv.uv, 20);
  CHECK(u.lost.empty());             // released before the loss was reported: not told
  CHECK(pool.inUse() == 0);
  CHECK(pool.stats().lost == 0);
  User a, b;
  rcp::backend::Pinned* pa = pool.acquire(a);
  rcp::backend::Pinned* pb = pool.acquire(b);
  CHECK(pa != nullptr);
  CHECK(pb != nullptr);
  CHECK(pa != pb);                   // the pool holds it once
  pool.release(pa, false);
  pool.release(pb, false);
  pool.close();
  loop.close();
  rcp::test::runFor(&uv.uv, 20);
}

TEST_CASE("pinned: a RESP3 connection says HELLO 3 first; a push before a reply goes to its user, the reply to its request") {
  Backend b;
  b.start();
  rcp::backend::PinnedPool pool(b.loop, b.config);
  pool.start();
  User u;
  rcp::backend::Pinned* p = pool.acquire(u, true);
  REQUIRE(p != nullptr);
  CHECK(p->resp3());
  rcp::test::Recorder get({"GET", "k"});
  p->submit(&get);
  REQUIRE(b.run([&] {
    pool.flush();
    // queued behind the handshake (HELLO 3, and CLIENT ID: the id CLIENT UNBLOCK names)
    return b.fake.received() == command({"HELLO", "3"}) + command({"CLIENT", "ID"}) + command({"GET", "k"});
  }));
  size_t connections = b.fake.connections();
  b.fake.send("%1\r\n$5\r\nproto\r\n:3\r\n:42\r\n");  // the handshake's replies (a map, the id)
  // Redis may send an invalidation between a request and its reply: it is not that reply
  b.fake.sendByteByByte(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n");
  REQUIRE(b.run([&] { return get.calls == 1; }));
  CHECK(get.reply == "$1\r\nv\r\n");
  CHECK(u.frames == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
  CHECK(u.lost.empty());
  // a clean RESP3 connection is kept for a RESP3 client only
  pool.release(p, true);
  CHECK(pool.idle() == 1);
  User u2;
  rcp::backend::Pinned* two = pool.acquire(u2, false);
  CHECK(two != p);
  CHECK_FALSE(two->resp3());
  REQUIRE(b.run([&] { return b.fake.connections() == connections + 1; }));
  rcp::backend::Pinned* three = pool.acquire(u2, true);
  CHECK(three == p);
  pool.release(two, false);
  pool.release(three, false);
  pool.close();
}
