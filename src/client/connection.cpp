// Client connection: reading, protocol sniffing, ordered batched writes, close (see connection.h).
#include "src/client/connection.h"

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <cassert>
#include <cstring>

#include "resp/reply.h"
#include "src/client/http_render.h"
#include "src/client/protected_mode.h"
#include "src/client/sniff.h"

namespace rcp::client {

namespace {
constexpr size_t kMaxSniffLine = 16 << 10;  // first-line bytes read before deciding the protocol anyway
}  // namespace

Connection::Connection(ConnectionOwner& owner, const SessionContext& context, ReplyPool& replies, uint64_t id,
                       bool rejecting)
    : owner_(owner), context_(context), config_(context.config), gather_(owner.gatherBuffer()),
      dirty_list_(owner.dirtyList()), id_(id),
      queue_(replies), last_active_ms_(context.loop.nowMs()), rejecting_(rejecting) {
  uv_tcp_init(context_.loop.uv(), &tcp_);
  tcp_.data = this;
  write_req_.data = this;
}

// The teardown order (see connection.h): the queue lets go of its replies first (ready ones back
// to the pool, waiting ones orphaned), then the session goes, whose pinned connection may complete
// requests as it is released.
Connection::~Connection() {
  assert(closing_);
  queue_.releaseAll();
  assert(queue_.empty() && "the replies are let go before the session: its teardown may complete their parts");
  session_.reset();
}

int Connection::start() {
  uv_tcp_nodelay(&tcp_, 1);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onReadCb);
  reading_ = rc == 0;
  return rc;
}

void Connection::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
  *buf = static_cast<Connection*>(h->data)->context_.loop.readBuffer();
}

void Connection::onReadCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  static_cast<Connection*>(s->data)->onRead(nread, buf);
}

void Connection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_ || nread == 0) return;
  if (nread < 0) {
    // The client is done sending (EOF) or gone: answer what it asked, then close.
    if (nread != UV_EOF) SPDLOG_DEBUG("client {} read error: {}", id_, uv_err_name(static_cast<int>(nread)));
    read_eof_ = true;
    pauseReading();
    if (nread != UV_EOF || rejecting_ || (session_ != nullptr && session_->closeOnEof())) close();
    else closeAfterWrite();
    return;
  }
  context_.stats.bytes_in += static_cast<uint64_t>(nread);
  last_active_ms_ = context_.loop.nowMs();
  uint64_t requests_before = requests_;
  if (session_ != nullptr) {
    session_->onData(buf->base, static_cast<size_t>(nread));
  } else if (!startSession(buf->base, static_cast<size_t>(nread))) {
    noteRequestStart(requests_before);
    return;
  }
  noteRequestStart(requests_before);
  if (!closing_ && !canTakeRequest()) pauseReading();
  markDirty();
}

// The first bytes: once they tell the protocol, the session starts with them. False while the
// protocol is not known yet, or when the connection was refused.
bool Connection::startSession(const char* data, size_t len) {
  sniff_.append(data, len);
  Protocol p = sniffProtocol(sniff_, kMaxSniffLine);
  if (p == Protocol::kUnknown) return false;
  if (rejecting_) {
    rejectAndClose(p == Protocol::kHttp);
    return false;
  }
  http_ = p == Protocol::kHttp;
  session_ = owner_.makeSession(*this, http_);
  ++(http_ ? context_.stats.http_connections : context_.stats.resp_connections);
  std::string first = std::move(sniff_);
  sniff_ = std::string();
  session_->onData(first.data(), first.size());
  return true;
}

void Connection::rejectAndClose(bool http) {
  if (protected_) {
    std::string why = protectedModeMessage(config_);
    answerAndClose(http, 403, why, "DENIED " + why);
    return;
  }
  answerAndClose(http, 503, "max number of clients reached", "ERR max number of clients reached");
}

void Connection::answerAndClose(bool http, int status, std::string_view text, std::string_view resp_error) {
  Reply* r = pushReply();
  if (http) {
    r->keep_alive = false;
    renderHttpText(*r, status, text, context_.httpDate());
  } else {
    resp::appendError(r->first.text, resp_error);
  }
  closeAfterWrite();
  flush();
}

void Connection::onLookup(Reply& reply, Part& part, const proxy::Lookup& r) {
  assert(session_ != nullptr && reply.pending > 0);
  session_->render(reply, part, r);
  if (--reply.pending == 0) {
    if (reply.failed) session_->finish(reply);
    markDirty();
  }
}

// Reply bytes waiting for the socket: the write in flight plus ready replies behind it. Over the
// limit with more than one reply waiting, the client is not reading and is disconnected; a single
// reply, however large, is always let through.
bool Connection::overOutputLimit() const noexcept {
  size_t bytes = 0, replies = 0;
  queue_.unwritten(&bytes, &replies);
  return replies > 1 && bytes > config_.max_output_bytes;
}

void Connection::closeForOutputLimit() {
  spdlog::warn("client {} is not reading its replies (over --max-output-bytes): closing", id_);
  ++context_.stats.output_limit_closes;
  close();
}


bool Connection::outputBacklogged() const noexcept {
  size_t bytes = 0, replies = 0;
  queue_.unwritten(&bytes, &replies);
  return bytes + write_bytes_ >= std::min(kPauseOutputBytes, config_.max_output_bytes);
}

namespace {
std::string addressText(const sockaddr_storage& a) {
  char ip[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    uv_ip6_name(v6, ip, sizeof ip);
    port = ntohs(v6->sin6_port);
  } else if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    uv_ip4_name(v4, ip, sizeof ip);
    port = ntohs(v4->sin_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}
}  // namespace

std::string Connection::peerAddress() const {
  sockaddr_storage a{};
  int len = sizeof a;
  uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&a), &len);
  return addressText(a);
}

std::string Connection::localAddress() const {
  sockaddr_storage a{};
  int len = sizeof a;
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&a), &len);
  return addressText(a);
}

void Connection::drain() {
  if (closing_) return;
  if (session_ == nullptr || queue_.empty()) {
    close();
    return;
  }
  closeAfterWrite();
}

bool Connection::closeIfIdle(uint64_t now_ms, uint64_t idle_ms, uint64_t reject_ms) {
  if (closing_) return false;
  // A large reply leaves in many pieces, in libuv's write queue and then in the kernel's send
  // buffer: either shrinking is the client reading, and progress in either direction is activity.
  size_t unsent = unsentBytes();
  if (unsent != unsent_seen_) {
    unsent_seen_ = unsent;
    last_active_ms_ = now_ms;
  }
  uint64_t silent = now_ms - last_active_ms_;
  if (rejecting_ && session_ == nullptr && silent >= reject_ms) {
    rejectAndClose(false);  // it never said which protocol it speaks: RESP's error line is harmless text
    return true;
  }
  // Waiting on the backend is not idleness (the backend timeout bounds it); a write the client
  // does not take is.
  bool waiting_on_backend = !queue_.empty() && !writing_;
  if (idle_ms == 0 || silent < idle_ms || waiting_on_backend) return false;
  SPDLOG_DEBUG("client {} idle for {} ms: closing", id_, silent);
  ++context_.stats.idle_closes;
  close();
  return true;
}

size_t Connection::unsentBytes() const noexcept {
  size_t bytes = uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
  uv_os_fd_t fd;
  int in_kernel = 0;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) == 0 && ioctl(fd, SIOCOUTQ, &in_kernel) == 0 &&
      in_kernel > 0)
    bytes += static_cast<size_t>(in_kernel);
  return bytes;
}

Session::Input Connection::heldInput() const {
  // Once the connection is closing, or only writing before it closes, its input will never be parsed.
  if (closing_ || close_after_write_) return {0, false};
  return session_ != nullptr ? session_->input() : Session::Input{sniff_.size(), !sniff_.empty()};
}

void Connection::noteInput(size_t bytes) {
  if (bytes != input_bytes_) owner_.inputChanged(this, std::exchange(input_bytes_, bytes), bytes);
}

void Connection::closeForInputLimit() {
  ++context_.stats.input_limit_closes;
  spdlog::warn("client {} holds {} bytes of unparsed input while all clients hold more than --max-input-bytes: closing",
               id_, input_bytes_);
  answerAndClose(http_, 503, "the proxy holds too much unparsed input (--max-input-bytes)",
                 "ERR the proxy holds too much unparsed input (--max-input-bytes): closing the largest");
  noteInput(heldInput().bytes);
}

void Connection::noteRequestStart(uint64_t requests_before) {
  Session::Input in = heldInput();
  noteInput(in.bytes);
  if (!in.partial) request_started_ms_ = 0;
  else if (request_started_ms_ == 0 || requests_ != requests_before) request_started_ms_ = context_.loop.nowMs();
}

bool Connection::closeIfRequestSlow(uint64_t now_ms, uint64_t request_ms) {
  if (closing_ || close_after_write_ || request_ms == 0 || request_started_ms_ == 0) return false;
  if (!canTakeRequest()) {  // held back by the proxy, not waiting on the client: the clock waits too
    request_started_ms_ = now_ms;
    return false;
  }
  if (now_ms - request_started_ms_ < request_ms) return false;
  ++context_.stats.request_timeouts;
  SPDLOG_DEBUG("client {}: a request did not arrive whole within {} ms: closing", id_, request_ms);
  answerAndClose(http_, 408, "request timeout: the request did not arrive whole within --request-timeout",
                 "ERR request timeout: the request did not arrive whole within --request-timeout");
  return true;
}

void Connection::pauseReading() {
  if (reading_ && !closing_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
}

void Connection::resumeReading() {
  if (!reading_ && !closing_ && !read_eof_ && !close_after_write_) {
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onReadCb) == 0) reading_ = true;
  }
}

void Connection::closeAfterWrite() {
  close_after_write_ = true;
  pauseReading();
  markDirty();
}

void Connection::flush() {
  if (writing_ && !closing_ && overOutputLimit()) return closeForOutputLimit();
  if (!writing_) unflushed_bytes_ = 0;
  // Until the socket stops taking bytes or no ready reply is left (one write takes kMaxIov pieces at most).
  while (!writing_ && !closing_ && queue_.head() != nullptr && queue_.head()->ready()) {
    if (!writeReady()) break;
  }
  afterFlush();
}

// Writes the ready prefix: as much as the socket takes now, and the rest as one queued write.
// Returns true when everything collected went out, so there may be more to write.
bool Connection::writeReady() {
  uv_buf_t bufs[kMaxIov];
  ReplyQueue::Batch b = queue_.collect(bufs, kMaxIov);
  if (b.replies == 0) return false;
  // Many small replies cost less copied into one buffer than handed to the kernel as an iovec
  // each; large ones go as they are (zero-copy from the cache).
  uv_buf_t gathered;
  const uv_buf_t* out = bufs;
  size_t nout = b.bufs;
  if (b.bufs > 1 && b.bytes <= ConnectionOwner::kGatherBytes) {
    char* g = gather_;
    size_t off = 0;
    for (size_t i = 0; i < b.bufs; ++i) {
      std::memcpy(g + off, bufs[i].base, bufs[i].len);
      off += bufs[i].len;
    }
    gathered = uv_buf_init(g, static_cast<unsigned>(off));
    out = &gathered;
    nout = 1;
  }
  int n = nout == 0 ? 0 : uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), out, static_cast<unsigned>(nout));
  if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
  if (n < 0) {
    SPDLOG_DEBUG("client {} write error: {}", id_, uv_err_name(n));
    close();
    return false;
  }
  context_.stats.bytes_out += static_cast<uint64_t>(n);
  if (n > 0) last_active_ms_ = context_.loop.nowMs();
  queue_.advance(static_cast<size_t>(n));
  if (static_cast<size_t>(n) == b.bytes) return true;  // more replies may have become ready meanwhile
  // The socket took part: the rest (from the original buffers, not the gathered copy) goes in one
  // queued write, and the replies stay queued until it completes.
  ReplyQueue::Batch rest = queue_.collect(bufs, kMaxIov);
  int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), bufs, static_cast<unsigned>(rest.bufs), onWriteCb);
  if (rc != 0) {
    close();
    return false;
  }
  writing_ = true;
  write_bytes_ = rest.bytes;
  if (overOutputLimit()) {
    closeForOutputLimit();
    return false;
  }
  if (!canTakeRequest()) pauseReading();
  return false;
}

void Connection::afterFlush() {
  if (closing_ || writing_) return;
  if (drain_notify_ && session_ != nullptr) {
    drain_notify_ = false;
    session_->onDrained();
  }
  if (close_after_write_) {
    if (queue_.empty()) close();
    return;
  }
  // Replies went out: take the requests held back, then read again.
  if (session_ != nullptr && canTakeRequest()) {
    if (session_->hasBacklog()) {
      uint64_t requests_before = requests_;
      session_->resume();
      noteRequestStart(requests_before);
      if (queue_.head() != nullptr && queue_.head()->ready()) markDirty();
    }
    if (canTakeRequest()) resumeReading();
  }
}

void Connection::onWriteCb(uv_write_t* req, int status) noexcept {
  static_cast<Connection*>(req->data)->onWritten(status);
}

void Connection::onWritten(int status) {
  writing_ = false;
  last_active_ms_ = context_.loop.nowMs();
  size_t bytes = std::exchange(write_bytes_, 0);
  if (closing_) return;
  if (status != 0) {
    close();
    return;
  }
  context_.stats.bytes_out += bytes;
  queue_.advance(bytes);
  flush();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  noteInput(heldInput().bytes);  // what it held no longer counts
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onCloseCb);
}

void Connection::onCloseCb(uv_handle_t* h) noexcept {
  Connection* c = static_cast<Connection*>(h->data);
  c->owner_.closed(c);
  delete c;
}

}  // namespace rcp::client
