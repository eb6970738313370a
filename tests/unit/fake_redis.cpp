// The scripted fake Redis (see fake_redis.h).
#include "fake_redis.h"

#include <doctest/doctest.h>

#include <csignal>
#include <memory>

namespace rcp::test {

bool runUntil(uv_loop_t* loop, const std::function<bool()>& pred, uint64_t timeout_ms) {
  uv_update_time(loop);
  uint64_t end = uv_now(loop) + timeout_ms;
  while (!pred()) {
    uv_run(loop, UV_RUN_NOWAIT);
    uv_update_time(loop);
    if (uv_now(loop) >= end) return pred();
    uv_sleep(1);
  }
  return true;
}

void runFor(uv_loop_t* loop, uint64_t ms) {
  runUntil(loop, [] { return false; }, ms);
}

struct FakeRedis::Conn {
  uv_tcp_t tcp;
  std::string in;
  bool closed = false;
  bool opened = false;  // the first command has been looked at
  bool eof = false;     // the proxy closed it
  bool id_asked = false;  // a CLIENT ID at the start has been looked at
  FakeRedis* owner = nullptr;
};

namespace {
struct Write {
  uv_write_t req;
  std::string bytes;
};

void writeTo(uv_tcp_t* tcp, std::string bytes) {
  auto* w = new Write{{}, std::move(bytes)};
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp), &buf, 1,
                    [](uv_write_t* req, int) noexcept { delete reinterpret_cast<Write*>(req); });
  if (rc != 0) delete w;
}
}  // namespace

FakeRedis::FakeRedis(uv_loop_t* loop) : loop_(loop) {
  // The proxy may close a connection the script is still writing to (a link it found out of
  // step): the write fails with EPIPE, as in the proxy itself, instead of ending the test run.
  signal(SIGPIPE, SIG_IGN);
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
  REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, [](uv_stream_t* s, int status) noexcept {
    if (status != 0) return;
    auto* self = static_cast<FakeRedis*>(s->data);
    auto* c = new Conn();
    c->owner = self;
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return;
    uv_tcp_nodelay(&c->tcp, 1);  // a reply sent a byte at a time leaves a byte at a time
    self->all_.push_back(c);
    self->current_ = c;
    ++self->accepted_;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t hint, uv_buf_t* buf) noexcept { *buf = uv_buf_init(new char[hint], static_cast<unsigned>(hint)); },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) noexcept {
          auto* conn = static_cast<Conn*>(st->data);
          if (n > 0) conn->in.append(buf->base, static_cast<size_t>(n));
          if (n < 0) conn->eof = true;
          delete[] buf->base;
          // A link whose handshake is otherwise empty opens with a PING (Redis answering proves
          // the connection is up): answered here and kept out of received(), so tests script
          // only what comes after.
          constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
          if (!conn->opened && (conn->in.size() >= kPing.size() || !kPing.starts_with(conn->in))) {
            conn->opened = true;
            if (conn->in.starts_with(kPing)) {
              conn->in.erase(0, kPing.size());
              writeTo(&conn->tcp, "+PONG\r\n");
            }
          }
          // A pinned connection also asks its id on Redis in the handshake: answered here too.
          constexpr std::string_view kClientId = "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n";
          if (conn->owner->answer_client_id && conn->opened && !conn->id_asked &&
              (conn->in.size() >= kClientId.size() || !kClientId.starts_with(conn->in))) {
            conn->id_asked = true;
            if (conn->in.starts_with(kClientId)) {
              conn->in.erase(0, kClientId.size());
              writeTo(&conn->tcp, ":42\r\n");
            }
          }
        });
  }) == 0);
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

FakeRedis::~FakeRedis() {
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  for (Conn* c : all_) {
    if (!c->closed) uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
  }
  for (int i = 0; i < 10; ++i) uv_run(loop_, UV_RUN_NOWAIT);
  for (Conn* c : all_) delete c;
}

const std::string& FakeRedis::received() const { return current_ != nullptr ? current_->in : empty_; }

void FakeRedis::send(const std::string& bytes) {
  REQUIRE(current_ != nullptr);
  writeTo(&current_->tcp, bytes);
}

void FakeRedis::sendByteByByte(const std::string& bytes) {
  REQUIRE(current_ != nullptr);
  for (char c : bytes) {
    writeTo(&current_->tcp, std::string(1, c));
    for (int i = 0; i < 3; ++i) uv_run(loop_, UV_RUN_NOWAIT);
  }
}

bool FakeRedis::closedByPeer(size_t i) const { return i < all_.size() && all_[i]->eof; }

const std::string& FakeRedis::receivedOn(size_t i) const { return i < all_.size() ? all_[i]->in : empty_; }

void FakeRedis::sendOn(size_t i, const std::string& bytes) {
  REQUIRE(i < all_.size());
  writeTo(&all_[i]->tcp, bytes);
}

void FakeRedis::dropConnection() {
  REQUIRE(current_ != nullptr);
  current_->closed = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&current_->tcp), nullptr);
  current_ = nullptr;
}

}  // namespace rcp::test
