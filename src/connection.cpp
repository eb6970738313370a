// Client connection: reading, protocol sniffing, ordered batched writes, close (see connection.h).
#include "src/connection.h"

#include <cstring>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

#include "resp/reply.h"
#include "src/http_session.h"
#include "src/resp_session.h"
#include "src/server.h"
#include "src/sniff.h"

namespace rcp {

namespace {
constexpr size_t kMaxIov = 128;          // buffers per write call (two per reply at most)
constexpr size_t kMaxSniffLine = 16 << 10;  // first-line bytes read before deciding the protocol anyway
}  // namespace

Connection::Connection(Server& server, uint64_t id, bool rejecting)
    : server_(server), config_(server.config()), id_(id), last_active_ms_(server.nowMs()), rejecting_(rejecting) {
  uv_tcp_init(server_.loop(), &tcp_);
  tcp_.data = this;
  write_req_.data = this;
}

Connection::~Connection() {
  assert(closing_);
  // Replies still waiting on a fetch stay with the fetch, which frees them; the rest go back.
  for (Slot* s = head_; s != nullptr;) {
    Slot* next = s->next;
    s->next = nullptr;
    if (s->ready) server_.slots().put(s);
    else s->conn = nullptr;
    s = next;
  }
}

int Connection::start() {
  uv_tcp_nodelay(&tcp_, 1);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onReadCb);
  reading_ = rc == 0;
  return rc;
}

void Connection::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
  *buf = static_cast<Connection*>(h->data)->server_.readBuffer();
}

void Connection::onReadCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  static_cast<Connection*>(s->data)->onRead(nread, buf);
}

void Connection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_) return;
  if (nread == 0) return;
  if (nread < 0) {
    // The client is done sending (EOF) or gone: answer what it asked, then close.
    if (nread != UV_EOF) SPDLOG_DEBUG("client {} read error: {}", id_, uv_err_name(static_cast<int>(nread)));
    read_eof_ = true;
    pauseReading();
    if (nread != UV_EOF || rejecting_) close();
    else closeAfterWrite();
    return;
  }
  server_.stats().bytes_in += static_cast<uint64_t>(nread);
  last_active_ms_ = server_.nowMs();
  const char* data = buf->base;
  size_t len = static_cast<size_t>(nread);
  if (session_ == nullptr) {
    sniff_.append(data, len);
    Protocol p = sniffProtocol(sniff_, kMaxSniffLine);
    if (p == Protocol::kUnknown) return;
    if (rejecting_) {
      rejectAndClose(p == Protocol::kHttp);
      return;
    }
    if (p == Protocol::kHttp) {
      session_ = std::make_unique<HttpSession>(*this);
      ++server_.stats().http_connections;
    } else {
      session_ = std::make_unique<RespSession>(*this);
      ++server_.stats().resp_connections;
    }
    std::string first = std::move(sniff_);
    sniff_ = std::string();
    session_->onData(first.data(), first.size());
  } else {
    session_->onData(data, len);
  }
  if (!closing_ && !canTakeRequest()) pauseReading();
  server_.markDirty(this);
}

void Connection::rejectAndClose(bool http) {
  Slot* s = pushSlot();
  if (http) {
    s->http = true;
    s->keep_alive = false;
    renderHttpText(*s, 503, "max number of clients reached", server_.httpDate());
  } else {
    resp::appendError(s->head, "ERR max number of clients reached");
    s->ready = true;
  }
  closeAfterWrite();
  flush();
}

Slot* Connection::pushSlot() {
  Slot* s = server_.slots().get();
  s->conn = this;
  if (tail_ != nullptr) tail_->next = s; else head_ = s;
  tail_ = s;
  ++slots_;
  return s;
}

// Reply bytes waiting for the socket: the write in flight plus ready replies behind it. Over the
// limit with more than one reply waiting, the client is not reading and is disconnected; a single
// reply, however large, is always let through.
bool Connection::overOutputLimit() const noexcept {
  size_t bytes = queued_bytes_, replies = writing_slots_;
  const Slot* s = head_;
  for (size_t i = 0; i < writing_slots_ && s != nullptr; ++i) s = s->next;
  for (; s != nullptr && s->ready; s = s->next) {
    bytes += s->bytes();
    ++replies;
  }
  return replies > 1 && bytes > server_.config().max_output_bytes;
}

void Connection::drain() {
  if (closing_) return;
  if (session_ == nullptr || head_ == nullptr) {
    close();
    return;
  }
  closeAfterWrite();
}

bool Connection::closeIfIdle(uint64_t now_ms, uint64_t idle_ms, uint64_t reject_ms) {
  if (closing_) return false;
  uint64_t silent = now_ms - last_active_ms_;
  if (rejecting_ && session_ == nullptr && silent >= reject_ms) {
    rejectAndClose(false);  // it never said which protocol it speaks: RESP's error line is harmless text
    return true;
  }
  // Waiting on the backend is not idleness (the backend timeout bounds it); a write the client
  // does not take is.
  bool waiting_on_backend = head_ != nullptr && !writing_;
  if (idle_ms == 0 || silent < idle_ms || waiting_on_backend) return false;
  SPDLOG_DEBUG("client {} idle for {} ms: closing", id_, silent);
  ++server_.stats().idle_closes;
  close();
  return true;
}

void Connection::slotReady() { server_.markDirty(this); }

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
  server_.markDirty(this);
}

void Connection::popWritten(size_t count) {
  for (size_t i = 0; i < count; ++i) {
    Slot* s = head_;
    assert(s != nullptr && s->ready);
    head_ = s->next;
    if (head_ == nullptr) tail_ = nullptr;
    --slots_;
    server_.slots().put(s);
  }
}

void Connection::flush() {
  if (writing_ && !closing_ && overOutputLimit()) {
    spdlog::warn("client {} is not reading its replies (over --max-output-bytes): closing", id_);
    ++server_.stats().output_limit_closes;
    close();
    return;
  }
  while (!writing_ && !closing_) {
    unflushed_bytes_ = 0;
    uv_buf_t bufs[kMaxIov];
    size_t nbufs = 0, nslots = 0, total = 0;
    for (Slot* s = head_; s != nullptr && s->ready && nbufs + 2 <= kMaxIov; s = s->next) {
      if (!s->head.empty()) bufs[nbufs++] = uv_buf_init(s->head.data(), static_cast<unsigned>(s->head.size()));
      std::string_view body = s->bodyBytes();
      if (!body.empty()) bufs[nbufs++] = uv_buf_init(const_cast<char*>(body.data()), static_cast<unsigned>(body.size()));
      total += s->head.size() + body.size();
      ++nslots;
    }
    if (nslots == 0) break;
    // Many small replies cost less copied into one buffer than handed to the kernel as an iovec
    // each; large ones go as they are (zero-copy from the cache).
    if (nbufs > 1 && total <= Server::kGatherBytes) {
      char* g = server_.gatherBuffer();
      size_t off = 0;
      for (size_t i = 0; i < nbufs; ++i) {
        std::memcpy(g + off, bufs[i].base, bufs[i].len);
        off += bufs[i].len;
      }
      bufs[0] = uv_buf_init(g, static_cast<unsigned>(off));
      nbufs = 1;
    }
    int n = nbufs == 0 ? 0 : uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, static_cast<unsigned>(nbufs));
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
      SPDLOG_DEBUG("client {} write error: {}", id_, uv_err_name(n));
      close();
      return;
    }
    server_.stats().bytes_out += static_cast<uint64_t>(n);
    if (n > 0) last_active_ms_ = server_.nowMs();
    // Free the replies written whole; the rest go into one queued write.
    size_t left = static_cast<size_t>(n), done = 0;
    while (done < nslots && head_->bytes() <= left) {
      left -= head_->bytes();
      popWritten(1);
      ++done;
    }
    if (done == nslots) continue;  // all written; more replies may have become ready meanwhile
    size_t rest = nslots - done;
    nbufs = 0;
    size_t bytes = 0;
    Slot* s = head_;
    for (size_t i = 0; i < rest; ++i, s = s->next) {
      std::string_view parts[2] = {s->head, s->bodyBytes()};
      for (std::string_view p : parts) {
        if (left >= p.size()) {  // already written by uv_try_write (only in the first slot)
          left -= p.size();
          continue;
        }
        p.remove_prefix(left);
        left = 0;
        bufs[nbufs++] = uv_buf_init(const_cast<char*>(p.data()), static_cast<unsigned>(p.size()));
        bytes += p.size();
      }
    }
    int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), bufs, static_cast<unsigned>(nbufs), onWriteCb);
    if (rc != 0) {
      close();
      return;
    }
    writing_ = true;
    writing_slots_ = rest;
    queued_bytes_ = bytes;
    if (overOutputLimit()) {
      spdlog::warn("client {} is not reading its replies (over --max-output-bytes): closing", id_);
      ++server_.stats().output_limit_closes;
      close();
      return;
    }
    if (!canTakeRequest()) pauseReading();
  }
  if (closing_ || writing_) return;
  if (close_after_write_) {
    if (head_ == nullptr) close();
    return;
  }
  // Replies went out: take the requests held back, then read again.
  if (session_ != nullptr && canTakeRequest()) {
    if (session_->hasBacklog()) {
      session_->resume();
      if (head_ != nullptr && head_->ready) server_.markDirty(this);
    }
    if (canTakeRequest()) resumeReading();
  }
}

void Connection::onWriteCb(uv_write_t* req, int status) noexcept {
  static_cast<Connection*>(req->data)->onWritten(status);
}

void Connection::onWritten(int status) {
  writing_ = false;
  last_active_ms_ = server_.nowMs();
  if (status == 0) server_.stats().bytes_out += queued_bytes_;
  queued_bytes_ = 0;
  popWritten(writing_slots_);
  writing_slots_ = 0;
  if (closing_) return;
  if (status != 0) {
    close();
    return;
  }
  flush();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onCloseCb);
}

void Connection::onCloseCb(uv_handle_t* h) noexcept {
  Connection* c = static_cast<Connection*>(h->data);
  c->server_.connectionClosed(c);
  delete c;
}

}  // namespace rcp
