// Client connection: reading, protocol sniffing, ordered batched writes, close (see connection.h).
#include "src/client/connection.h"

#include <spdlog/spdlog.h>

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
                       bool rejecting, const Listener& listener)
    : owner_(owner), context_(context), config_(context.config), gather_(owner.gatherBuffer()),
      dirty_list_(owner.dirtyList()), id_(id), stream_(context.loop, *this, listener.kind),
      queue_(replies), last_active_ms_(context.loop.nowMs()), created_ms_(last_active_ms_), rejecting_(rejecting) {
  if (listener.tls != nullptr) stream_.startTls(listener.tls, net::TlsChannel::Role::kServer, *listener.tls_stats);
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
  if (stream_.kind() == net::Stream::Kind::kTcp) uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream_.uv()), 1);
  // A handshake counts as a request: it must finish within --request-timeout.
  if (stream_.tls()) request_started_ms_ = context_.loop.nowMs();
  int rc = stream_.readStart();
  reading_ = rc == 0;
  return rc;
}

void Connection::onStreamEnd(int status, [[maybe_unused]] std::string_view why) {
  if (closing_) return;
  // The client is done sending (EOF) or gone: answer what it asked, then close.
  if (status != UV_EOF) SPDLOG_DEBUG("client {} read error: {}", id_, why);
  read_eof_ = true;
  pauseReading();
  if (status != UV_EOF || rejecting_ || !stream_.ready() || (session_ != nullptr && session_->closeOnEof())) close();
  else closeAfterWrite();
}

void Connection::onStreamEstablished() {
  last_active_ms_ = context_.loop.nowMs();
  request_started_ms_ = 0;  // the handshake is done; the first request's clock starts with its bytes
}

void Connection::onStreamData(const char* data, size_t len) {
  if (closing_) return;
  context_.stats.bytes_in += static_cast<uint64_t>(len);
  last_active_ms_ = context_.loop.nowMs();
  uint64_t requests_before = requests_;
  if (session_ != nullptr) {
    session_->onData(data, len);
  } else if (!startSession(data, len)) {
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

std::string Connection::peerAddress() const { return stream_.peerAddress(); }

std::string Connection::localAddress() const { return stream_.localAddress(); }

bool Connection::blockedOn(long long* redis_id, int32_t* slot) const {
  return session_ != nullptr && session_->blockedOn(redis_id, slot);
}

void Connection::describe(ClientInfo& info) const {
  uint64_t now = context_.loop.nowMs();
  info.id = id_;
  info.addr = peerAddress();
  info.laddr = localAddress();
  info.age_s = (now - created_ms_) / 1000;
  info.idle_s = (now - last_active_ms_) / 1000;
  info.http = http_;
  if (session_ != nullptr) session_->describe(info);
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
  if (closing_ || (idle_ms == 0 && !rejecting_)) return false;  // no timeout: not even a syscall (10,000 clients)
  // A large reply leaves in many pieces, in libuv's write queue and then in the kernel's send
  // buffer: either shrinking is the client reading, and progress in either direction is activity.
  size_t unsent = stream_.unsentBytes();
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
  if (!stream_.ready()) {  // a TLS handshake that never finished: nothing can be said to it
    stream_.countHandshakeTimeout();
    close();
    return true;
  }
  SPDLOG_DEBUG("client {}: a request did not arrive whole within {} ms: closing", id_, request_ms);
  answerAndClose(http_, 408, "request timeout: the request did not arrive whole within --request-timeout",
                 "ERR request timeout: the request did not arrive whole within --request-timeout");
  return true;
}

void Connection::pauseReading() {
  if (reading_ && !closing_) {
    stream_.readStop();
    reading_ = false;
  }
}

void Connection::resumeReading() {
  if (!reading_ && !closing_ && !read_eof_ && !close_after_write_) {
    if (stream_.readStart() == 0) reading_ = true;
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
  int n = nout == 0 ? 0 : stream_.tryWrite(out, static_cast<unsigned>(nout));
  if (n < 0) {
    SPDLOG_DEBUG("client {} write error: {}", id_, uv_err_name(n));
    close();
    return false;
  }
  context_.stats.bytes_out += static_cast<uint64_t>(n);
  if (n > 0) last_active_ms_ = context_.loop.nowMs();
  queue_.advance(static_cast<size_t>(n));
  if (stream_.busy()) {
    // TLS: what was taken is encrypted (those replies are done with) and its ciphertext is being
    // written; the rest is encrypted once it has gone.
    writing_ = true;
    write_bytes_ = stream_.queuedBytes();
    write_advance_ = 0;
  } else if (static_cast<size_t>(n) == b.bytes) {
    return true;  // more replies may have become ready meanwhile
  } else {
    // The socket took part: the rest (from the original buffers, not the gathered copy) goes in
    // one queued write, and the replies stay queued until it completes.
    ReplyQueue::Batch rest = queue_.collect(bufs, kMaxIov);
    if (stream_.tls() || stream_.write(bufs, static_cast<unsigned>(rest.bufs)) != 0) {
      close();
      return false;
    }
    writing_ = true;
    write_bytes_ = write_advance_ = rest.bytes;
  }
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

void Connection::onStreamWritten(int status) {
  writing_ = false;
  last_active_ms_ = context_.loop.nowMs();
  write_bytes_ = 0;
  size_t bytes = std::exchange(write_advance_, 0);
  if (closing_) return;
  if (status != 0) {
    close();
    return;
  }
  context_.stats.bytes_out += bytes;
  queue_.advance(bytes);
  if (stream_.busy()) {  // TLS: more ciphertext (a handshake message, a ticket) went out meanwhile
    writing_ = true;
    write_bytes_ = stream_.queuedBytes();
    return;
  }
  flush();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  noteInput(heldInput().bytes);  // what it held no longer counts
  if (close_after_write_) stream_.shutdownTls();  // a clean end: close_notify, best effort
  stream_.close();
}

void Connection::onStreamClosed() {
  owner_.closed(this);
  delete this;
}

}  // namespace rcp::client
