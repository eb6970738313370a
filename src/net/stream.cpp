// A TCP or Unix stream, plaintext or TLS (see stream.h).
#include "src/net/stream.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cassert>

namespace rcp::net {

namespace {
constexpr size_t kKeepSendBuffer = 64 << 10;  // a larger ciphertext buffer is given back once sent

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

Stream::Stream(Loop& loop, StreamOwner& owner, Kind kind) : loop_(loop), owner_(owner), kind_(kind) {
  if (kind == Kind::kTcp) uv_tcp_init(loop_.uv(), &h_.tcp);
  else uv_pipe_init(loop_.uv(), &h_.pipe, 0);
  h_.handle.data = this;
  write_req_.data = this;
  connect_req_.data = this;
}

Stream::~Stream() { assert(closing_ && "a stream is freed only after its close callback"); }

void Stream::startTls(SSL_CTX* ctx, TlsChannel::Role role, TlsStats& stats, const std::string& peer_name,
                      bool verify) {
  tls_ = std::make_unique<TlsChannel>(ctx, role);
  tls_stats_ = &stats;
  if (role == TlsChannel::Role::kClient) tls_->setPeerName(peer_name, verify);
}

int Stream::connect(const sockaddr* addr) { return uv_tcp_connect(&connect_req_, &h_.tcp, addr, onConnectCb); }

int Stream::connect(const std::string& path) {
  uv_pipe_connect(&connect_req_, &h_.pipe, path.c_str(), onConnectCb);  // errors arrive in the callback
  return 0;
}

void Stream::onConnectCb(uv_connect_t* req, int status) noexcept {
  Stream* s = static_cast<Stream*>(req->data);
  if (s->closing_) return;
  if (status == 0 && s->kind_ == Kind::kTcp) {
    uv_tcp_nodelay(&s->h_.tcp, 1);
    uv_tcp_keepalive(&s->h_.tcp, 1, 60);
  }
  s->owner_.onStreamConnected(status);
  if (status == 0 && s->tls_ != nullptr && !s->closing_) s->onTlsRead(nullptr, 0);  // the client's hello
}

int Stream::readStart() { return uv_read_start(uv(), onAlloc, onReadCb); }

void Stream::readStop() {
  if (!closing_) uv_read_stop(uv());
}

void Stream::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
  *buf = static_cast<Stream*>(h->data)->loop_.readBuffer();
}

void Stream::onReadCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  Stream* st = static_cast<Stream*>(s->data);
  if (nread > 0 && st->tls_ == nullptr && !st->closing_) {  // the plaintext path: straight to the owner
    st->owner_.onStreamData(buf->base, static_cast<size_t>(nread));
    return;
  }
  st->onRead(nread, buf);
}

void Stream::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_ || nread == 0 || tls_failed_) return;
  if (nread < 0) {
    int status = static_cast<int>(nread);
    if (tls_ != nullptr && !tls_->established()) {
      TlsChannel::countFailure(*tls_stats_, TlsChannel::Cause::kClosed);
      owner_.onStreamEnd(status, "TLS: connection closed during the handshake");
      return;
    }
    owner_.onStreamEnd(status, status == UV_EOF ? "connection closed" : uv_err_name(status));
    return;
  }
  if (tls_ == nullptr) {
    owner_.onStreamData(buf->base, static_cast<size_t>(nread));
    return;
  }
  onTlsRead(buf->base, static_cast<size_t>(nread));
}

// Ciphertext in, plaintext out. The loop's read buffer holds data only until feed() has copied it,
// so the plaintext is decrypted into the same buffer.
void Stream::onTlsRead(const char* data, size_t len) {
  tls_->feed(data, len);
  uv_buf_t plain = loop_.readBuffer();
  for (;;) {
    long n = tls_->read(plain.base, plain.len);
    if (tls_->takeJustEstablished()) {
      tls_->count(*tls_stats_);
      owner_.onStreamEstablished();
      if (closing_) return;
    }
    if (n > 0) {
      owner_.onStreamData(plain.base, static_cast<size_t>(n));
      if (closing_ || tls_failed_) return;
      continue;
    }
    if (n == TlsChannel::kWant) break;
    if (n == TlsChannel::kClosed) {
      owner_.onStreamEnd(UV_EOF, "connection closed");
      return;
    }
    tlsFailed();
    return;
  }
  int rc = sendTlsOutput();
  if (rc < 0 && !closing_) owner_.onStreamEnd(rc, uv_err_name(rc));
}

void Stream::tlsFailed() {
  tls_failed_ = true;
  if (!tls_->established()) TlsChannel::countFailure(*tls_stats_, tls_->cause());
  sendTlsOutput();  // the alert that tells the peer why, best effort
  owner_.onStreamEnd(UV_EPROTO, "TLS: " + tls_->error());
}

int Stream::sendTlsOutput() {
  if (write_active_ || closing_) return 0;
  std::string_view out = tls_->output();
  if (out.empty()) return 0;
  uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
  int n = uv_try_write(uv(), &b, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
  if (n < 0) {
    tls_->clearOutput();
    return n;
  }
  if (static_cast<size_t>(n) == out.size()) {
    tls_->clearOutput();
    return 0;
  }
  tls_sending_.assign(out.substr(static_cast<size_t>(n)));
  tls_->clearOutput();
  b = uv_buf_init(tls_sending_.data(), static_cast<unsigned>(tls_sending_.size()));
  int rc = uv_write(&write_req_, uv(), &b, 1, onWriteCb);
  if (rc != 0) return rc;
  write_active_ = true;
  return 0;
}

int Stream::tryWriteTls(const uv_buf_t* bufs, unsigned n) {
  assert(!write_active_);
  if (!tls_->established() || tls_failed_) return 0;
  size_t taken = 0, off = 0;
  unsigned i = 0;
  while (i < n) {
    size_t budget = kTlsChunkBytes;
    while (budget > 0 && i < n) {
      size_t len = std::min(static_cast<size_t>(bufs[i].len) - off, budget);
      if (!tls_->write(bufs[i].base + off, len)) return UV_EPROTO;
      taken += len;
      budget -= len;
      off += len;
      if (off == bufs[i].len) {
        ++i;
        off = 0;
      }
    }
    int rc = sendTlsOutput();
    if (rc < 0) return rc;
    if (write_active_) break;  // the socket is full: the rest waits for onStreamWritten
  }
  return static_cast<int>(taken);
}

int Stream::write(const uv_buf_t* bufs, unsigned n) {
  assert(!write_active_ && tls_ == nullptr);
  int rc = uv_write(&write_req_, uv(), bufs, n, onWriteCb);
  if (rc == 0) write_active_ = true;
  return rc;
}

void Stream::onWriteCb(uv_write_t* req, int status) noexcept {
  Stream* s = static_cast<Stream*>(req->data);
  s->write_active_ = false;
  if (s->tls_ != nullptr) {
    if (s->tls_sending_.capacity() > kKeepSendBuffer) std::string().swap(s->tls_sending_);
    else s->tls_sending_.clear();
  }
  if (s->closing_) return;
  if (status == 0 && s->tls_ != nullptr) status = s->sendTlsOutput();  // what TLS wrote meanwhile
  s->owner_.onStreamWritten(status);
}

size_t Stream::queuedBytes() const noexcept {
  return tls_ != nullptr ? tls_sending_.size() : uv_stream_get_write_queue_size(uv());
}

size_t Stream::unsentBytes() const noexcept {
  size_t bytes = uv_stream_get_write_queue_size(uv());
  if (tls_ != nullptr) bytes += tls_->pendingOutput();
  uv_os_fd_t fd;
  int in_kernel = 0;
  if (uv_fileno(&h_.handle, &fd) == 0 && ioctl(fd, SIOCOUTQ, &in_kernel) == 0 && in_kernel > 0)
    bytes += static_cast<size_t>(in_kernel);
  return bytes;
}

void Stream::shutdownTls() {
  if (tls_ == nullptr || closing_ || tls_failed_ || !tls_->established()) return;
  tls_->shutdown();
  (void)sendTlsOutput();
}

void Stream::countHandshakeTimeout() noexcept {
  if (tls_ != nullptr && !tls_->established()) ++tls_stats_->failed_timeout;
}

void Stream::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(&h_.handle, onCloseCb);
}

void Stream::onCloseCb(uv_handle_t* h) noexcept { static_cast<Stream*>(h->data)->owner_.onStreamClosed(); }

std::string Stream::peerAddress() const {
  if (kind_ == Kind::kUnix) {
    char path[256];
    size_t len = sizeof path;
    if (uv_pipe_getsockname(&h_.pipe, path, &len) != 0) len = 0;
    return std::string(path, len) + ":0";  // as Redis names a Unix socket client
  }
  sockaddr_storage a{};
  int len = sizeof a;
  uv_tcp_getpeername(&h_.tcp, reinterpret_cast<sockaddr*>(&a), &len);
  return addressText(a);
}

std::string Stream::localAddress() const {
  if (kind_ == Kind::kUnix) return peerAddress();
  sockaddr_storage a{};
  int len = sizeof a;
  uv_tcp_getsockname(&h_.tcp, reinterpret_cast<sockaddr*>(&a), &len);
  return addressText(a);
}

}  // namespace rcp::net
