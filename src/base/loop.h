// What every part on the event loop shares: the libuv loop, the end-of-turn pass, and the one
// input buffer that reads land in. Everything runs on the loop's thread; no locks.
//
// The end-of-turn pass: parts that queue output during a loop turn (client replies, backend
// commands) ask for it with requestTurnEnd(); the owner's handler then runs once at the end of the
// turn (a uv_check handle), so each connection gets one write per turn whatever it queued.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>

namespace rcp {

class Loop {
 public:
  using TurnEndHandler = void (*)(void* ctx) noexcept;

  explicit Loop(uv_loop_t* uv);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* uv() const noexcept { return uv_; }
  uint64_t nowMs() const noexcept { return uv_now(uv_); }

  // Starts calling handler(ctx) at the end of every turn in which requestTurnEnd() was called.
  void start(TurnEndHandler handler, void* ctx);
  // Makes sure the end-of-turn pass runs this turn (the loop then does not block in poll first).
  void requestTurnEnd() noexcept {
    if (!armed_ && !closed_) {
      armed_ = true;
      uv_idle_start(&idle_, [](uv_idle_t*) noexcept {});
    }
  }
  // Closes both handles; the handler is not called again.
  void close() noexcept;

  // The shared input buffer: every read is processed before the next read is allocated, so one
  // buffer serves every connection in turn.
  uv_buf_t readBuffer() noexcept { return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size())); }

 private:
  static constexpr size_t kReadBufferBytes = 64 << 10;

  uv_loop_t* uv_;
  uv_check_t check_;  // runs the handler at the end of every turn
  uv_idle_t idle_;    // armed while a pass is due, so the loop polls without blocking
  TurnEndHandler handler_ = nullptr;
  void* ctx_ = nullptr;
  bool armed_ = false;
  bool closed_ = false;
  std::array<char, kReadBufferBytes> read_buf_;
};

}  // namespace rcp
