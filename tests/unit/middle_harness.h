// What the in-process tests of the middle share: a real libuv loop with the end-of-turn pass, a
// scripted fake Redis, the real upstream policy and link pointed at it, and a backend request that
// records what happened to it.
#pragma once

#include <uv.h>

#include <optional>
#include <string>
#include <vector>

#include "fake_redis.h"
#include "resp/frame.h"
#include "resp/reply.h"
#include "src/backend/node_upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::test {

struct UvLoop {
  uv_loop_t uv;
  UvLoop() { uv_loop_init(&uv); }
  ~UvLoop() {
    for (int i = 0; i < 20 && uv_loop_alive(&uv); ++i) uv_run(&uv, UV_RUN_NOWAIT);
    uv_loop_close(&uv);
  }
};

// The loop, a fake Redis, and the single-Redis upstream pointed at it (started by start()).
struct Backend {
  UvLoop uv;
  Loop loop{&uv.uv};
  FakeRedis fake{&uv.uv};
  Config config;
  std::optional<backend::NodeUpstream> upstream;
  Backend() {
    config.redis.port = fake.port();
    config.backend_timeout_ms = 1000;
    // The fetches these tests script are plain GETs; tests of the PTTL that comes with them under
    // tracking turn it back on.
    config.tracking = Config::Tracking::kOff;
  }
  ~Backend() {
    if (upstream) upstream->close();
    loop.close();
    runFor(&uv.uv, 20);
  }
  // Starts the upstream (after the test adjusted config) and waits until its link is up.
  void start(bool wait_up = true) {
    upstream.emplace(loop, config);
    loop.start([](void* ctx) noexcept { static_cast<Backend*>(ctx)->upstream->flush(); }, this);
    upstream->start();
    if (wait_up) REQUIRE(runUntil(&uv.uv, [&] { return upstream->up(); }));
  }
  bool run(const std::function<bool()>& pred, uint64_t ms = 2000) { return runUntil(&uv.uv, pred, ms); }
};

// A command as the proxy writes it to Redis, to compare with what the fake received.
inline std::string command(std::initializer_list<std::string_view> args) {
  std::string s;
  resp::appendCommand(s, args);
  return s;
}

// A backend request that records its one outcome.
struct Recorder final : backend::Request {
  explicit Recorder(std::vector<std::string> a, uint64_t timeout = 1000, bool take_bulk = false, bool retry = false)
      : args(std::move(a)), take(take_bulk), can_retry(retry) {
    timeout_ms = timeout;
  }
  bool retriable() const noexcept override { return can_retry; }
  void encode(std::string& out) const override {
    std::vector<std::string_view> v(args.begin(), args.end());
    resp::appendCommand(out, v);
  }
  bool onBulk(const char* d, size_t n) noexcept override {
    if (!take) return false;
    bulk.assign(d, n);
    return true;
  }
  void onReply(const resp::Frame& f) override {
    ++calls;
    if (f.taken()) reply = "<taken:" + bulk + ">";
    else f.root().encode(reply);
  }
  void onFailure(backend::Failure why, std::string_view d) override {
    ++calls;
    failure = why;
    detail = d;
  }
  std::string encoded() const {
    std::string s;
    encode(s);
    return s;
  }
  std::vector<std::string> args;
  bool take;
  bool can_retry;  // a read: sent again on a new link when its link is lost
  int calls = 0;
  std::string reply, bulk, detail;
  std::optional<backend::Failure> failure;
};

}  // namespace rcp::test
