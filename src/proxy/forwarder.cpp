// Forwarded commands (see forwarder.h).
#include "src/proxy/forwarder.h"

#include <cassert>
#include <utility>

#include "resp/reply.h"

namespace rcp::proxy {

class Forwarder::Forward final : public backend::Request {
 public:
  explicit Forward(Forwarder& owner) : owner_(owner) {}

  void encode(std::string& out) const override { out.append(command); }

  void onReply(const resp::Frame& reply) override {
    invalidateAfter();
    Lookup r;
    r.kind = Lookup::Kind::kReply;
    r.frame = &reply;
    finish(r);
  }

  void onFailure(backend::Failure why, std::string_view detail) override {
    invalidateAfter();
    Lookup r;
    r.kind = why == backend::Failure::kTimeout ? Lookup::Kind::kTimeout : Lookup::Kind::kUnavailable;
    r.message = detail;
    finish(r);
  }

  void reset() noexcept {
    command.clear();
    waiter = nullptr;
    after.clear();
    deadline_ms = sent_ns = sent_ms = 0;
    retries = 0;
  }

  std::string command;  // the request in RESP
  Waiter* waiter = nullptr;
  After after;

 private:
  void invalidateAfter() {
    if (after.all) owner_.read_through_.invalidateAll();
    after.forEach([this](std::string_view k) { owner_.read_through_.invalidate(k); });
  }
  void finish(const Lookup& r) {
    Waiter* w = waiter;
    owner_.done(this);  // first: the waiter may forward again from inside onResult
    w->onResult(r);
  }

  Forwarder& owner_;
};

Forwarder::Forwarder(ReadThrough& read_through) : read_through_(read_through) {}

Forwarder::~Forwarder() {
  assert(live_ == 0);
  for (Forward* f : free_) delete f;
}

void Forwarder::forward(backend::Target& to, std::span<const std::string_view> args, Waiter& w, uint64_t timeout_ms,
                        After* after, std::string_view raw) {
  Forward* f;
  if (free_.empty()) {
    f = new Forward(*this);
  } else {
    f = free_.back();
    free_.pop_back();
  }
  ++live_;
  if (raw.empty()) resp::appendCommand(f->command, args);
  else f->command.assign(raw);
  f->waiter = &w;
  f->timeout_ms = timeout_ms;
  if (after != nullptr) {
    // f's buffers are empty (a pooled request's are cleared): the caller gets them back to reuse
    f->after.bytes.swap(after->bytes);
    f->after.ends.swap(after->ends);
    f->after.all = std::exchange(after->all, false);
  }
  ++stats_.forwarded;
  to.submit(f);
}

void Forwarder::done(Forward* f) noexcept {
  --live_;
  if (free_.size() >= kMaxFree || f->command.capacity() > kMaxKeptCommandBytes) {
    delete f;
    return;
  }
  f->reset();
  free_.push_back(f);
}

}  // namespace rcp::proxy
