// The loop's shared pieces (see loop.h).
#include "src/base/loop.h"

namespace rcp {

Loop::Loop(uv_loop_t* uv) : uv_(uv) {
  uv_check_init(uv_, &check_);
  check_.data = this;
  uv_idle_init(uv_, &idle_);
  idle_.data = this;
}

Loop::~Loop() = default;  // the handles are closed by close(), which the owner calls before

void Loop::start(TurnEndHandler handler, void* ctx) {
  handler_ = handler;
  ctx_ = ctx;
  uv_check_start(&check_, [](uv_check_t* h) noexcept {
    Loop* l = static_cast<Loop*>(h->data);
    l->handler_(l->ctx_);
    // Work done by the handler may ask for another pass; it runs in the same call (the handler
    // loops until quiet), so the idle handle can rest until the next request.
    if (l->armed_ && !l->closed_) {
      l->armed_ = false;
      uv_idle_stop(&l->idle_);
    }
  });
}

void Loop::close() noexcept {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
}

}  // namespace rcp
