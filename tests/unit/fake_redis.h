// A scripted fake Redis for in-process tests: a libuv TCP server on 127.0.0.1:0 in the test's own
// loop. It records what each connection sends and answers only what the test tells it to, so
// orderings a real Redis cannot produce on demand (a reply split at every byte, a reply nobody
// asked for, a connection cut mid-pipeline) can be scripted. Plus a loop driver for the tests.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

namespace rcp::test {

// Runs the loop without blocking until pred() holds or timeout_ms passes; returns pred().
bool runUntil(uv_loop_t* loop, const std::function<bool()>& pred, uint64_t timeout_ms = 2000);
// Runs the loop for about ms milliseconds.
void runFor(uv_loop_t* loop, uint64_t ms);

class FakeRedis {
 public:
  explicit FakeRedis(uv_loop_t* loop);
  ~FakeRedis();  // closes everything and runs the loop until the handles are gone
  FakeRedis(const FakeRedis&) = delete;
  FakeRedis& operator=(const FakeRedis&) = delete;

  uint16_t port() const noexcept { return port_; }
  // A pinned connection's handshake asks CLIENT ID after its PING: answered here (:42) and kept
  // out of received(), as the PING is, when set.
  bool answer_client_id = false;
  size_t connections() const noexcept { return accepted_; }  // accepted so far
  bool connected() const noexcept { return current_ != nullptr; }
  // Bytes the current connection has sent so far.
  const std::string& received() const;
  // Sends bytes on the current connection: at once, or one byte per loop turn.
  void send(const std::string& bytes);
  void sendByteByByte(const std::string& bytes);
  // Closes the current connection (the proxy sees EOF).
  void dropConnection();
  // The same for connection i (in accept order, from 0), for tests that script several at once.
  const std::string& receivedOn(size_t i) const;
  void sendOn(size_t i, const std::string& bytes);
  // Whether the proxy closed connection i (its end of file was read).
  bool closedByPeer(size_t i) const;

 private:
  struct Conn;
  uv_loop_t* loop_;
  uv_tcp_t listener_;
  uint16_t port_ = 0;
  size_t accepted_ = 0;
  Conn* current_ = nullptr;
  std::vector<Conn*> all_;
  std::string empty_;
};

}  // namespace rcp::test
