// In-process tests of the backend link and the single-Redis policy against a scripted fake Redis
// on 127.0.0.1:0: pipelined order, a reply split at every byte, per-request deadlines (and none),
// reconnect, a stray reply, the handshake, cancel, --max-inflight, and failures that never arrive
// inside submit().
#include <doctest/doctest.h>

#include <memory>
#include <utility>

#include "middle_harness.h"

using rcp::backend::Failure;
using rcp::test::Backend;
using rcp::test::Recorder;

TEST_CASE("link: pipelined requests are answered in order, from a reply split at every byte") {
  Backend b;
  b.start();
  Recorder r1({"GET", "a"}), r2({"LRANGE", "l", "0", "-1"}), r3({"PING"});
  for (Recorder* r : {&r1, &r2, &r3}) b.upstream->submit(r);
  CHECK(r1.calls + r2.calls + r3.calls == 0);  // nothing completes inside submit
  std::string sent = r1.encoded() + r2.encoded() + r3.encoded();
  REQUIRE(b.run([&] { return b.fake.received() == sent; }));  // one pipelined write
  b.fake.sendByteByByte("$1\r\nA\r\n*2\r\n$1\r\nx\r\n:3\r\n+PONG\r\n");
  REQUIRE(b.run([&] { return r3.calls == 1; }));
  CHECK(r1.reply == "$1\r\nA\r\n");
  CHECK(r2.reply == "*2\r\n$1\r\nx\r\n:3\r\n");
  CHECK(r3.reply == "+PONG\r\n");
  CHECK((r1.calls == 1 && r2.calls == 1));
  CHECK(b.upstream->stats().requests == 3);
}

TEST_CASE("link: a top-level bulk reply can be taken by its request with no copy in the frame") {
  Backend b;
  b.start();
  Recorder r({"GET", "k"}, 1000, true);
  b.upstream->submit(&r);
  REQUIRE(b.run([&] { return !b.fake.received().empty(); }));
  b.fake.send("$5\r\nhello\r\n");
  REQUIRE(b.run([&] { return r.calls == 1; }));
  CHECK(r.reply == "<taken:hello>");
}

TEST_CASE("link: a request with no deadline waits, one past its deadline fails the stuck link at once") {
  Backend b;
  b.start();
  Recorder blocking({"BLPOP", "q", "0"}, 0);
  b.upstream->submit(&blocking);
  rcp::test::runFor(&b.uv.uv, 300);
  CHECK(blocking.calls == 0);  // no deadline: no timeout, however long
  CHECK(b.fake.connections() == 1);
  Recorder late({"GET", "k"}, 100);
  b.upstream->submit(&late);
  REQUIRE(b.run([&] { return late.calls == 1; }));
  CHECK(late.failure == Failure::kTimeout);
  CHECK(blocking.failure == Failure::kTimeout);  // behind nothing, but on the same stuck pipeline
  CHECK(b.upstream->stats().timeouts == 2);
  // A timeout cut a working link: the next one is opened at once, without backoff.
  REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.upstream->up(); }, 500));
}

TEST_CASE("link: a head with a longer budget does not hold a read behind it past its own while Redis says nothing") {
  Backend b;
  b.start();
  Recorder slow({"COMMAND"}, 10000);  // the proxy's own ask at connect has a long budget
  b.upstream->submit(&slow);
  Recorder read({"GET", "k"}, 100);
  b.upstream->submit(&read);
  REQUIRE(b.run([&] { return b.fake.received() == slow.encoded() + read.encoded(); }));
  // Redis answers nothing: the read fails by its own deadline, not the head's.
  REQUIRE(b.run([&] { return read.calls == 1; }, 1500));
  CHECK(read.failure == Failure::kTimeout);
  CHECK(slow.failure == Failure::kTimeout);  // the same stuck link
  REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.upstream->up(); }, 500));
}

TEST_CASE("link: losing the connection fails what was sent, later requests go to a new connection") {
  Backend b;
  b.start();
  Recorder r1({"GET", "a"});
  b.upstream->submit(&r1);
  REQUIRE(b.run([&] { return !b.fake.received().empty(); }));
  b.fake.dropConnection();
  REQUIRE(b.run([&] { return r1.calls == 1; }));
  CHECK(r1.failure == Failure::kUnavailable);
  CHECK(r1.detail == "connection closed by Redis");
  CHECK(b.upstream->stats().disconnects == 1);
  REQUIRE(b.run([&] { return b.upstream->up(); }));
  CHECK(b.fake.connections() == 2);
  Recorder r2({"GET", "b"});
  b.upstream->submit(&r2);
  REQUIRE(b.run([&] { return b.fake.received() == r2.encoded(); }));
  b.fake.send(":1\r\n");
  REQUIRE(b.run([&] { return r2.calls == 1; }));
  CHECK(r2.reply == ":1\r\n");
}

TEST_CASE("link: a reply nobody asked for means the link is out of step: it is replaced") {
  Backend b;
  b.start();
  b.fake.send("+OK\r\n");
  REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.upstream->up(); }));
  CHECK(b.upstream->stats().disconnects == 1);
}

TEST_CASE("link: the handshake goes first, requests queue behind it, a refused handshake fails the link") {
  Backend b;
  b.config.redis.password = "pw";
  b.config.redis.db = 2;
  b.start(false);
  REQUIRE(b.run([&] { return b.fake.connected(); }));
  Recorder r({"GET", "k"});
  b.upstream->submit(&r);
  std::string handshake = "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n";
  REQUIRE(b.run([&] { return b.fake.received() == handshake + r.encoded(); }));
  CHECK_FALSE(b.upstream->up());
  b.fake.send("+OK\r\n+OK\r\n$1\r\nv\r\n");
  REQUIRE(b.run([&] { return r.calls == 1; }));
  CHECK(r.reply == "$1\r\nv\r\n");
  CHECK(b.upstream->up());

  Backend refused;
  refused.config.redis.password = "bad";
  refused.start(false);
  REQUIRE(refused.run([&] { return refused.fake.connected(); }));
  Recorder q({"GET", "k"});
  refused.upstream->submit(&q);
  REQUIRE(refused.run([&] { return !refused.fake.received().empty(); }));
  refused.fake.send("-WRONGPASS invalid username-password pair\r\n");
  REQUIRE(refused.run([&] { return q.calls == 1; }));
  CHECK(q.failure == Failure::kUnavailable);
  CHECK(q.detail == "handshake refused by Redis: WRONGPASS invalid username-password pair");
  CHECK_FALSE(refused.upstream->up());
}

TEST_CASE("link: a cancelled request's reply is read and dropped") {
  Backend b;
  b.start();
  Recorder r1({"GET", "a"}), r2({"GET", "b"});
  b.upstream->submit(&r1);
  b.upstream->submit(&r2);
  REQUIRE(b.run([&] { return b.fake.received() == r1.encoded() + r2.encoded(); }));
  b.upstream->cancel(&r1);
  b.fake.send("$1\r\nA\r\n$1\r\nB\r\n");
  REQUIRE(b.run([&] { return r2.calls == 1; }));
  CHECK(r1.calls == 0);
  CHECK(r2.reply == "$1\r\nB\r\n");
  CHECK(b.upstream->pending() == 0);
}

TEST_CASE("upstream: requests over --max-inflight wait for a reply to make room") {
  Backend b;
  b.config.max_inflight = 1;
  b.start();
  Recorder r1({"GET", "a"}), r2({"GET", "b"});
  b.upstream->submit(&r1);
  b.upstream->submit(&r2);
  rcp::test::runFor(&b.uv.uv, 50);
  CHECK(b.fake.received() == r1.encoded());
  CHECK(b.upstream->pending() == 2);
  b.fake.send("$1\r\nA\r\n");
  REQUIRE(b.run([&] { return b.fake.received() == r1.encoded() + r2.encoded(); }));
  b.fake.send("$1\r\nB\r\n");
  REQUIRE(b.run([&] { return r2.calls == 1; }));
  CHECK(r1.reply == "$1\r\nA\r\n");
}

TEST_CASE("upstream: with Redis unreachable a request fails in the end-of-turn pass, not inside submit") {
  Backend b;
  // Nothing listens on this port: a server bound and closed again.
  uint16_t port;
  {
    rcp::test::FakeRedis gone(&b.uv.uv);
    port = gone.port();
  }
  b.config.redis.port = port;
  b.start(false);
  REQUIRE(b.run([&] { return std::string(b.upstream->stateName()) == "down"; }));
  Recorder r({"GET", "k"});
  b.upstream->submit(&r);
  CHECK(r.calls == 0);
  b.upstream->flush();  // the end-of-turn pass
  CHECK(r.calls == 1);
  CHECK(r.failure == Failure::kUnavailable);
  CHECK(r.detail.find("connection refused") != std::string::npos);
}

TEST_CASE("link: a large reply arriving steadily past the request's deadline is not a timeout") {
  Backend b;
  b.start();
  Recorder r({"GET", "big"}, 150);  // a 150 ms deadline; the reply takes about 600 ms to arrive
  b.upstream->submit(&r);
  REQUIRE(b.run([&] { return !b.fake.received().empty(); }));
  std::string value(1 << 20, 'v');
  std::string reply = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  size_t piece = reply.size() / 16 + 1;
  for (size_t off = 0; off < reply.size(); off += piece) {
    b.fake.send(reply.substr(off, piece));
    rcp::test::runFor(&b.uv.uv, 40);
  }
  REQUIRE(b.run([&] { return r.calls == 1; }));
  CHECK_FALSE(r.failure.has_value());
  CHECK(r.reply == reply);
  CHECK(b.upstream->stats().timeouts == 0);
}

TEST_CASE("link: requests queued behind a large reply arriving steadily are not late") {
  Backend b;
  b.config.backend_timeout_ms = 100;
  b.start();
  Recorder big({"GET", "big"}, 100);
  std::vector<std::unique_ptr<Recorder>> small;
  b.upstream->submit(&big);
  for (int i = 0; i < 8; ++i) {
    small.push_back(std::make_unique<Recorder>(std::vector<std::string>{"GET", "s" + std::to_string(i)}, 100));
    b.upstream->submit(small.back().get());
  }
  REQUIRE(b.run([&] { return b.fake.received().size() >= big.encoded().size() + 8 * small[0]->encoded().size(); }));
  // About 1.4 s at ~1.5 MB/s in pieces 120 ms apart: fourteen times the timeout, with gaps longer
  // than it, yet above the rate floor (1 MiB/s).
  std::string value(2 << 20, 'v');
  std::string reply = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  std::string answers;  // Redis answers the small ones right behind the large one
  for (int i = 0; i < 8; ++i) answers += "$2\r\ns" + std::to_string(i) + "\r\n";
  std::string stream = reply + answers;
  size_t piece = stream.size() / 12 + 1;
  for (size_t off = 0; off < stream.size(); off += piece) {
    b.fake.send(stream.substr(off, piece));
    rcp::test::runFor(&b.uv.uv, 120);
  }
  REQUIRE(b.run([&] { return small.back()->calls == 1; }));
  CHECK(big.calls == 1);
  CHECK_FALSE(big.failure.has_value());
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK_FALSE(small[i]->failure.has_value());
    CHECK(small[i]->reply == "$2\r\ns" + std::to_string(i) + "\r\n");
  }
  CHECK(b.upstream->stats().timeouts == 0);
  CHECK(b.fake.connections() == 1);
}

TEST_CASE("link: a reply that trickles fails its request; the reads queued behind go on a new link") {
  Backend b;
  b.config.backend_timeout_ms = 200;
  b.config.backend_min_rate = 10000;  // bytes/s: a 2,000-byte reply may take 200 ms + ~200 ms
  b.start();
  Recorder slow({"GET", "slow"}, 200), read({"GET", "k"}, 200, false, /*retriable=*/true);
  b.upstream->submit(&slow);
  b.upstream->submit(&read);
  REQUIRE(b.run([&] { return b.fake.received() == slow.encoded() + read.encoded(); }));
  b.fake.send("$2000\r\nx");
  uint64_t start = uv_now(&b.uv.uv);
  for (int i = 0; i < 60 && slow.calls == 0; ++i) {  // one byte every 50 ms: it would take 100 s
    rcp::test::runFor(&b.uv.uv, 50);
    if (slow.calls == 0 && b.fake.connections() == 1) b.fake.send("x");
  }
  REQUIRE(slow.calls == 1);
  uint64_t took = uv_now(&b.uv.uv) - start;
  CHECK(took >= 300);  // its timeout plus its size at the floor rate, no less...
  CHECK(took < 1500);  // ...and not for as long as bytes keep coming
  CHECK(slow.failure == Failure::kTimeout);
  CHECK(slow.detail.find("--backend-min-rate") != std::string::npos);
  // The read behind it was not late: it is sent again on a new link and answered there.
  REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.fake.received().find(read.encoded()) != std::string::npos; }));
  CHECK(read.calls == 0);
  b.fake.send("$1\r\nv\r\n");
  REQUIRE(b.run([&] { return read.calls == 1; }));
  CHECK(read.reply == "$1\r\nv\r\n");
  CHECK(slow.calls == 1);
}

TEST_CASE("link: a push or attribute on a RESP2 link means it is out of step: no reply reaches the wrong request") {
  for (std::string stray : {std::string(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nX\r\n"),
                            std::string("|1\r\n+ttl\r\n:3\r\n"), std::string("_\r\n")}) {
    CAPTURE(stray);
    Backend b;
    b.start();
    Recorder range({"GETRANGE", "a", "0", "-1"}), read({"GET", "b"}, 1000, false, /*retriable=*/true);
    b.upstream->submit(&range);
    b.upstream->submit(&read);
    REQUIRE(b.run([&] { return b.fake.received() == range.encoded() + read.encoded(); }));
    b.fake.send(stray + "$1\r\nA\r\n$1\r\nB\r\n");  // (byte by byte: the reader's own tests)
    REQUIRE(b.run([&] { return range.calls == 1; }));
    CHECK(range.failure == Failure::kUnavailable);  // a write-capable command is not sent twice
    CHECK(range.detail.find("on a RESP2 connection") != std::string::npos);
    REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.fake.received() == read.encoded(); }));
    CHECK(read.calls == 0);  // never "A" nor "B" from the out-of-step link
    b.fake.send("$1\r\nb\r\n");
    REQUIRE(b.run([&] { return read.calls == 1; }));
    CHECK(read.reply == "$1\r\nb\r\n");
  }
}

TEST_CASE("link: a string reply over --max-backend-reply-bytes fails its request once, the link goes on") {
  Backend b;
  b.config.max_backend_reply_bytes = 4096;
  b.start();
  Recorder big({"GET", "big"}), next({"GET", "small"});
  b.upstream->submit(&big);
  b.upstream->submit(&next);
  REQUIRE(b.run([&] { return b.fake.received() == big.encoded() + next.encoded(); }));
  b.fake.send("$100000\r\n" + std::string(50000, 'x'));
  REQUIRE(b.run([&] { return big.calls == 1; }));  // at once, on its header
  CHECK(big.failure == Failure::kTooLarge);
  CHECK(big.detail == "reply of 100000 bytes larger than --max-backend-reply-bytes (4096 bytes)");
  b.fake.sendByteByByte(std::string(50000, 'x').substr(0, 10));
  b.fake.send(std::string(49990, 'x') + "\r\n$2\r\nok\r\n");
  REQUIRE(b.run([&] { return next.calls == 1; }));
  CHECK(next.reply == "$2\r\nok\r\n");
  CHECK(b.fake.connections() == 1);  // no link was dropped, nothing sent twice
  CHECK(b.upstream->stats().disconnects == 0);
}

TEST_CASE("link: a nested reply over the limit fails its request, the reads behind it go on a new link") {
  Backend b;
  b.config.max_backend_reply_bytes = 4096;
  b.start();
  Recorder big({"LRANGE", "l", "0", "-1"}), read({"GET", "k"}, 1000, false, /*retriable=*/true);
  b.upstream->submit(&big);
  b.upstream->submit(&read);
  REQUIRE(b.run([&] { return b.fake.received() == big.encoded() + read.encoded(); }));
  b.fake.send("*2\r\n$3000\r\n" + std::string(3000, 'x') + "\r\n$3000\r\n");
  REQUIRE(b.run([&] { return big.calls == 1; }));
  CHECK(big.failure == Failure::kTooLarge);
  CHECK(big.detail.find("--max-backend-reply-bytes (4096 bytes)") != std::string::npos);
  REQUIRE(b.run([&] { return b.fake.connections() == 2 && b.fake.received().find(read.encoded()) != std::string::npos; }));
  CHECK(read.calls == 0);
  b.fake.send("$1\r\nv\r\n");
  REQUIRE(b.run([&] { return read.calls == 1; }));
  CHECK(read.reply == "$1\r\nv\r\n");
  CHECK(big.calls == 1);  // failed once, never sent again
}

TEST_CASE("link: a RESP3 link reads RESP3 replies in order, pushes between them go to the push sink") {
  rcp::test::UvLoop uv;
  rcp::Loop loop{&uv.uv};
  rcp::test::FakeRedis fake{&uv.uv};
  rcp::backend::LinkOptions o;
  o.host = "127.0.0.1";
  o.port = fake.port();
  o.resp3 = true;
  o.handshake = {{"HELLO", "3"}};
  struct Owner final : rcp::backend::LinkOwner {
    void onLinkUp(rcp::backend::Link&) override { up = true; }
    void onLinkReplies(rcp::backend::Link&) override {}
    void onLinkDown(rcp::backend::Link&, std::string_view, std::vector<rcp::backend::Request*>&) override { down = true; }
    bool up = false, down = false;
  } owner;
  struct Pushes final : rcp::backend::FrameSink {
    void onFrame(const rcp::resp::Frame& f) override { f.root().encode(got); }
    std::string got;
  } pushes;
  rcp::backend::UpstreamStats stats;
  rcp::LatencyHistogram latency;
  auto* link = new rcp::backend::Link(loop, o, owner, stats, latency);
  link->setPushSink(&pushes);
  loop.start([](void* ctx) noexcept { static_cast<rcp::backend::Link*>(ctx)->flush(); }, link);
  link->open();
  std::string hello = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return fake.received() == hello; }));
  fake.send("%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return owner.up; }));
  Recorder r1({"HGETALL", "h"}), r2({"GET", "k"}, 1000, true), r3({"GET", "none"});
  link->send(&r1);
  link->send(&r2);
  link->send(&r3);
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return fake.received() == hello + r1.encoded() + r2.encoded() + r3.encoded(); }));
  std::string invalidate = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
  std::string message = ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n";
  fake.sendByteByByte(invalidate + "%1\r\n$1\r\na\r\n:1\r\n" + message + "$1\r\nv\r\n" + "_\r\n");
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return r3.calls == 1; }));
  CHECK(r1.reply == "%1\r\n$1\r\na\r\n:1\r\n");
  CHECK(r2.reply == "<taken:v>");  // a top-level bulk still fills with no copy
  CHECK(r3.reply == "_\r\n");
  CHECK(pushes.got == invalidate + message);
  CHECK_FALSE(owner.down);
  link->close("test over");
  loop.close();
  rcp::test::runFor(&uv.uv, 20);
}

TEST_CASE("link: an owner that closes the link while its requests are being failed is not told of the loss") {
  // The pinned pool's case: a forwarded command failing as its connection goes ends the client's
  // pinned state, and the client lets the connection go before the link reports the loss.
  rcp::test::UvLoop uv;
  rcp::Loop loop{&uv.uv};
  rcp::test::FakeRedis fake{&uv.uv};
  rcp::backend::LinkOptions o = rcp::backend::LinkOptions::fromRedis("127.0.0.1", fake.port(), "", "", 0, 1000, 1 << 20);
  struct Owner final : rcp::backend::LinkOwner {
    void onLinkUp(rcp::backend::Link&) override { up = true; }
    void onLinkReplies(rcp::backend::Link&) override {}
    void onLinkDown(rcp::backend::Link&, std::string_view, std::vector<rcp::backend::Request*>&) override { ++downs; }
    bool up = false;
    int downs = 0;
  } owner;
  struct Closer final : rcp::backend::Request {
    void encode(std::string& out) const override { rcp::resp::appendCommand(out, {"MULTI"}); }
    void onReply(const rcp::resp::Frame&) override {}
    void onFailure(rcp::backend::Failure, std::string_view) override {
      ++failed;
      std::exchange(link, nullptr)->close("the owner let go");  // the link frees itself once closed
    }
    rcp::backend::Link* link = nullptr;
    int failed = 0;
  } closer;
  rcp::backend::UpstreamStats stats;
  rcp::LatencyHistogram latency;
  auto* link = new rcp::backend::Link(loop, o, owner, stats, latency);
  closer.link = link;
  loop.start([](void* ctx) noexcept {
    if (rcp::backend::Link* l = static_cast<Closer*>(ctx)->link) l->flush();
  }, &closer);
  link->open();
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return owner.up; }));
  link->send(&closer);
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return !fake.received().empty(); }));
  fake.dropConnection();
  REQUIRE(rcp::test::runUntil(&uv.uv, [&] { return closer.failed == 1; }));
  rcp::test::runFor(&uv.uv, 20);
  CHECK(owner.downs == 0);
  loop.close();
  rcp::test::runFor(&uv.uv, 20);
}
