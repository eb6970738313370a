// The backend link (see backend.h).
#include "src/backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <new>

#include "cache/entry.h"
#include "resp/reply.h"
#include "src/read_through.h"
#include "src/server.h"

namespace rcp {

namespace {
constexpr uint64_t kBackoffBaseMs = 100;   // first retry delay
constexpr uint64_t kBackoffMaxMs = 2000;   // cap on the retry delay
constexpr uint64_t kTickMs = 50;           // deadline check period
}  // namespace

// One TCP connection to Redis. Owned by the Backend while current; once dropped it only waits
// for its close callback, which frees it. Callbacks from a dropped link are ignored.
struct Backend::Link {
  explicit Link(Backend* b)
      : owner(b), reader(&Backend::makeEntry, &Backend::destroyEntry, b) {
    tcp.data = this;
    connect_req.data = this;
    write_req.data = this;
  }
  Backend* owner;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  std::string writing;        // bytes handed to uv_write, kept alive until its callback
  bool write_active = false;
  bool dropped = false;
  uint64_t deadline_ms = 0;   // connect / handshake deadline
  unsigned handshake_left = 0;
  resp::ReplyReader reader;
};

Backend::Backend(Server& server) : server_(server), rng_(std::random_device{}()) {
  uv_timer_init(server_.loop(), &reconnect_timer_);
  uv_timer_init(server_.loop(), &tick_timer_);
  reconnect_timer_.data = this;
  tick_timer_.data = this;
}

Backend::~Backend() { assert(state_ == State::kClosed && link_ == nullptr); }

const char* Backend::stateName() const noexcept {
  switch (state_) {
    case State::kIdle: return "idle";
    case State::kResolving: return "resolving";
    case State::kConnecting: return "connecting";
    case State::kHandshake: return "handshake";
    case State::kUp: return "up";
    case State::kBackoff: return "down";
    case State::kClosed: return "closed";
  }
  return "?";
}

void Backend::start() {
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) noexcept { static_cast<Backend*>(t->data)->onTick(); },
                 kTickMs, kTickMs);
  connect();
}

void Backend::close() {
  if (state_ == State::kClosed) return;
  failAll(static_cast<int>(FetchResult::Kind::kUnavailable), "proxy shutting down");
  state_ = State::kClosed;
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
  if (link_ != nullptr) {
    Link* l = std::exchange(link_, nullptr);
    l->dropped = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), [](uv_handle_t* h) noexcept { delete static_cast<Link*>(h->data); });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&reconnect_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
}

void Backend::connect() {
  const BackendAddress& a = server_.config().redis;
  state_ = State::kResolving;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolve_req_.data = this;
  std::string port = std::to_string(a.port);
  int rc = uv_getaddrinfo(server_.loop(), &resolve_req_,
                          [](uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
                            static_cast<Backend*>(req->data)->onResolved(status, res);
                          },
                          a.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    last_error_ = std::string("resolve: ") + uv_strerror(rc);
    scheduleReconnect(false);
    return;
  }
  resolving_ = true;
}

void Backend::onResolved(int status, addrinfo* res) {
  resolving_ = false;
  if (state_ == State::kClosed) {
    uv_freeaddrinfo(res);
    return;
  }
  if (status != 0 || res == nullptr) {
    last_error_ = std::string("cannot resolve ") + server_.config().redis.host + ": " + uv_strerror(status);
    uv_freeaddrinfo(res);
    scheduleReconnect(false);
    return;
  }
  Link* l = new Link(this);
  uv_tcp_init(server_.loop(), &l->tcp);
  l->deadline_ms = server_.nowMs() + server_.config().backend_timeout_ms;
  int rc = uv_tcp_connect(&l->connect_req, &l->tcp, res->ai_addr, [](uv_connect_t* req, int st) noexcept {
    Link* link = static_cast<Link*>(req->data);
    link->owner->onConnected(link, st);
  });
  uv_freeaddrinfo(res);
  link_ = l;
  state_ = State::kConnecting;
  if (rc != 0) {
    last_error_ = std::string("connect: ") + uv_strerror(rc);
    linkLost(last_error_.c_str(), false);
  }
}

void Backend::onConnected(Link* link, int status) {
  if (link->dropped) return;
  assert(link == link_);
  if (status != 0) {
    last_error_ = std::string("connect to ") + server_.config().redis.display() + ": " + uv_strerror(status);
    linkLost(last_error_.c_str(), false);
    return;
  }
  uv_tcp_nodelay(&link->tcp, 1);
  uv_tcp_keepalive(&link->tcp, 1, 60);
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&link->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
        Server& s = static_cast<Link*>(h->data)->owner->server_;
        *buf = s.readBuffer();
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
        Link* l = static_cast<Link*>(s->data);
        l->owner->onRead(l, nread, buf);
      });
  if (rc != 0) {
    last_error_ = std::string("read: ") + uv_strerror(rc);
    linkLost(last_error_.c_str(), false);
    return;
  }
  // Handshake replies come first in the FIFO (null entries), then any GETs queued meanwhile.
  const BackendAddress& a = server_.config().redis;
  assert(sent_.empty());
  if (!a.password.empty()) {
    if (a.user.empty()) resp::appendCommand(out_, {"AUTH", a.password});
    else resp::appendCommand(out_, {"AUTH", a.user, a.password});
    sent_.push_back(nullptr);
  }
  if (a.db != 0) {
    resp::appendCommand(out_, {"SELECT", std::to_string(a.db)});
    sent_.push_back(nullptr);
  }
  link->handshake_left = static_cast<unsigned>(sent_.size());
  link->deadline_ms = server_.nowMs() + server_.config().backend_timeout_ms;
  state_ = link->handshake_left > 0 ? State::kHandshake : State::kUp;
  if (state_ == State::kUp) {
    ++stats_.connects;
    attempt_ = 0;
    spdlog::info("backend {} connected", a.display());
  }
  sendWaiting();
  server_.requestFlush();
}

void Backend::submit(Fetch* f) {
  f->deadline_ms = server_.nowMs() + server_.config().backend_timeout_ms;
  switch (state_) {
    case State::kUp:
    case State::kHandshake:
      if (waiting_.empty() && sent_.size() < server_.config().max_inflight) {
        resp::appendCommand(out_, {"GET", f->key});
        f->sent_ns = uv_hrtime();
        sent_.push_back(f);
        ++stats_.requests;
        server_.requestFlush();
      } else {
        waiting_.push_back(f);
      }
      return;
    case State::kIdle:
    case State::kResolving:
    case State::kConnecting:
      waiting_.push_back(f);
      return;
    case State::kBackoff:
    case State::kClosed: {
      ++stats_.failed;
      FetchResult r{FetchResult::Kind::kUnavailable, {}, last_error_};
      server_.readThrough().complete(f, r);
      return;
    }
  }
}

void Backend::sendWaiting() {
  if (state_ != State::kUp && state_ != State::kHandshake) return;
  size_t max = server_.config().max_inflight;
  bool any = false;
  while (!waiting_.empty() && sent_.size() < max) {
    Fetch* f = waiting_.front();
    waiting_.pop_front();
    resp::appendCommand(out_, {"GET", f->key});
    f->sent_ns = uv_hrtime();
    sent_.push_back(f);
    ++stats_.requests;
    any = true;
  }
  if (any) server_.requestFlush();
}

void Backend::flush() {
  Link* l = link_;
  if (l == nullptr || out_.empty() || l->write_active) return;
  if (state_ != State::kUp && state_ != State::kHandshake) return;
  uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&l->tcp), &buf, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    last_error_ = std::string("write: ") + uv_err_name(n);
    linkLost(last_error_.c_str(), false);
    return;
  }
  if (static_cast<size_t>(n) == out_.size()) {
    out_.clear();
    return;
  }
  l->writing.assign(out_, static_cast<size_t>(n));
  out_.clear();
  buf = uv_buf_init(l->writing.data(), static_cast<unsigned>(l->writing.size()));
  int rc = uv_write(&l->write_req, reinterpret_cast<uv_stream_t*>(&l->tcp), &buf, 1,
                    [](uv_write_t* req, int status) noexcept {
                      Link* link = static_cast<Link*>(req->data);
                      link->owner->onWritten(link, status);
                    });
  if (rc != 0) {
    last_error_ = std::string("write: ") + uv_err_name(rc);
    linkLost(last_error_.c_str(), false);
    return;
  }
  l->write_active = true;
}

void Backend::onWritten(Link* link, int status) {
  link->write_active = false;
  link->writing.clear();
  if (link->dropped) return;
  if (status != 0) {
    last_error_ = std::string("write: ") + uv_err_name(status);
    linkLost(last_error_.c_str(), false);
    return;
  }
  flush();
}

void Backend::onRead(Link* link, ssize_t nread, const uv_buf_t* buf) {
  if (link->dropped) return;
  if (nread < 0) {
    last_error_ = nread == UV_EOF ? std::string("connection closed by Redis")
                                  : std::string("read: ") + uv_err_name(static_cast<int>(nread));
    linkLost(last_error_.c_str(), false);
    return;
  }
  if (nread == 0) return;
  if (!link->reader.feed(buf->base, static_cast<size_t>(nread))) {
    linkLost("out of memory", false);
    return;
  }
  resp::ReplyReader::Reply r;
  for (;;) {
    auto st = link->reader.next(r);
    if (st == resp::ReplyReader::Status::kNeedMore) break;
    if (st == resp::ReplyReader::Status::kError) {
      last_error_ = std::string("protocol error from Redis: ") + std::string(link->reader.error());
      linkLost(last_error_.c_str(), false);
      return;
    }
    if (sent_.empty()) {
      if (r.type == resp::ReplyReader::Type::kString) destroyEntry(r.object);
      last_error_ = "unexpected reply from Redis";
      linkLost(last_error_.c_str(), false);
      return;
    }
    onReply(r);
    if (link_ != link) return;  // the reply dropped the link (failed handshake)
  }
  sendWaiting();
}

void Backend::onReply(const resp::ReplyReader::Reply& r) {
  using T = resp::ReplyReader::Type;
  Fetch* f = sent_.front();
  sent_.pop_front();
  if (f == nullptr) {  // handshake (AUTH / SELECT)
    if (r.type == T::kError) {
      last_error_ = std::string("handshake refused by Redis: ") + std::string(r.text);
      spdlog::error("backend {}: {}", server_.config().redis.display(), last_error_);
      linkLost(last_error_.c_str(), false);
      return;
    }
    if (--link_->handshake_left == 0) {
      state_ = State::kUp;
      ++stats_.connects;
      attempt_ = 0;
      spdlog::info("backend {} connected", server_.config().redis.display());
    }
    return;
  }
  latency_.observe(uv_hrtime() - f->sent_ns);
  FetchResult res;
  switch (r.type) {
    case T::kString:
      res.kind = FetchResult::Kind::kValue;
      res.entry = EntryRef::adopt(static_cast<Entry*>(r.object));
      break;
    case T::kNil:
      res.kind = FetchResult::Kind::kNil;
      break;
    case T::kError:
      ++stats_.errors;
      res.kind = r.text.starts_with("WRONGTYPE") ? FetchResult::Kind::kWrongType : FetchResult::Kind::kBackendError;
      res.message = r.text;
      break;
    default:
      ++stats_.errors;
      res.kind = FetchResult::Kind::kBackendError;
      res.message = "ERR unexpected reply type from Redis";
      break;
  }
  server_.readThrough().complete(f, res);
}

void Backend::onTick() {
  uint64_t now = server_.nowMs();
  // A request in the pipeline not answered in time: everything behind it waits on it, so the link
  // is stuck. Fail what was sent with a timeout and start a fresh link at once.
  Fetch* head = nullptr;
  for (Fetch* f : sent_) {
    if (f != nullptr) { head = f; break; }
  }
  bool stuck = head != nullptr && now >= head->deadline_ms;
  if (!stuck && link_ != nullptr && (state_ == State::kConnecting || state_ == State::kHandshake) &&
      now >= link_->deadline_ms) {
    last_error_ = state_ == State::kConnecting ? "connect timed out" : "handshake timed out";
    linkLost(last_error_.c_str(), false);
    return;
  }
  if (stuck) {
    spdlog::warn("backend {}: request timed out after {} ms; reconnecting", server_.config().redis.display(),
                 server_.config().backend_timeout_ms);
    while (!sent_.empty()) {
      Fetch* f = sent_.front();
      sent_.pop_front();
      if (f == nullptr) continue;
      ++stats_.timeouts;
      server_.readThrough().complete(f, FetchResult{FetchResult::Kind::kTimeout, {}, {}});
    }
    last_error_ = "request timed out";
    linkLost(last_error_.c_str(), true);
    return;
  }
  // Requests waiting for a turn (over --max-inflight, or for the link to come up) time out too.
  while (!waiting_.empty() && now >= waiting_.front()->deadline_ms) {
    Fetch* f = waiting_.front();
    waiting_.pop_front();
    ++stats_.timeouts;
    server_.readThrough().complete(f, FetchResult{FetchResult::Kind::kTimeout, {}, {}});
  }
}

void Backend::failAll(int kind, const char* why) {
  std::string msg = why;  // why may point at last_error_, which completions must not see change
  FetchResult r{static_cast<FetchResult::Kind>(kind), {}, msg};
  for (std::deque<Fetch*>* q : {&sent_, &waiting_}) {
    while (!q->empty()) {
      Fetch* f = q->front();
      q->pop_front();
      if (f == nullptr) continue;
      ++stats_.failed;
      server_.readThrough().complete(f, r);
    }
  }
}

void Backend::linkLost(const char* why, bool immediate_retry) {
  std::string reason = why;
  bool was_up = state_ == State::kUp || state_ == State::kHandshake;
  if (link_ != nullptr) {
    Link* l = std::exchange(link_, nullptr);
    l->dropped = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), [](uv_handle_t* h) noexcept { delete static_cast<Link*>(h->data); });
    ++stats_.disconnects;
  }
  out_.clear();
  state_ = State::kBackoff;  // new requests fail fast until the next attempt starts
  last_error_ = reason;
  failAll(static_cast<int>(FetchResult::Kind::kUnavailable), reason.c_str());
  if (was_up) spdlog::warn("backend {} lost: {}", server_.config().redis.display(), reason);
  scheduleReconnect(immediate_retry);
}

void Backend::scheduleReconnect(bool immediate) {
  if (state_ == State::kClosed) return;
  state_ = State::kBackoff;
  uint64_t delay = 0;
  if (!immediate) {
    uint64_t exp = kBackoffBaseMs << std::min(attempt_, 10u);
    uint64_t cap = std::min(exp, kBackoffMaxMs);
    delay = cap / 2 + std::uniform_int_distribution<uint64_t>(0, cap / 2)(rng_);  // "equal jitter"
    if (attempt_ == 0) spdlog::warn("backend {} unavailable: {}; retrying", server_.config().redis.display(), last_error_);
    ++attempt_;
  }
  uv_timer_start(&reconnect_timer_, [](uv_timer_t* t) noexcept { static_cast<Backend*>(t->data)->connect(); },
                 delay, 0);
}

void* Backend::makeEntry(void* ctx, const char* data, size_t len) noexcept {
  Backend* b = static_cast<Backend*>(ctx);
  std::string_view key;
  if (!b->sent_.empty() && b->sent_.front() != nullptr) key = b->sent_.front()->key;
  try {
    return Entry::create(key, {data, len});
  } catch (const std::exception&) {  // out of memory, or a value over 4 GiB
    return nullptr;
  }
}

void Backend::destroyEntry(void* obj) noexcept {
  if (obj != nullptr) static_cast<Entry*>(obj)->release();
}

}  // namespace rcp
