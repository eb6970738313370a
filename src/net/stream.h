// The byte stream under a client connection and a backend link: a TCP socket or a Unix socket,
// plaintext or TLS. Its owner reads and writes plaintext and never knows which; the handshake is a
// state of the stream (the owner hears onStreamEstablished), and nothing ever blocks the loop.
//
// Ownership: the stream is a member of its owner and owns its libuv handle; the handle is freed in
// its close callback, which is the last call the owner gets (onStreamClosed: the owner may delete
// itself there, and the stream with it). After close() no other owner call is made.
//
// Writes mirror libuv's: tryWrite() takes what it can now; write() queues the rest, zero-copy for
// plaintext (the buffers stay valid until onStreamWritten). Under TLS, tryWrite() encrypts at most
// kTlsChunkBytes at a time and may leave ciphertext being written (busy()): the owner then waits
// for onStreamWritten before it writes again, so a TLS connection holds one chunk of ciphertext at
// most whatever it is asked to send.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "src/base/loop.h"
#include "src/net/tls_channel.h"

namespace rcp::net {

class StreamOwner {
 public:
  // Plaintext arrived (valid during the call only).
  virtual void onStreamData(const char* data, size_t len) = 0;
  // The peer closed its side (UV_EOF), a read failed, or TLS failed (why says how).
  virtual void onStreamEnd(int status, std::string_view why) = 0;
  // A write queued by write() or left by tryWrite() has ended (status 0: every byte sent).
  virtual void onStreamWritten(int status) = 0;
  // A connect started by connect() ended (status 0: connected; TLS then starts its handshake).
  virtual void onStreamConnected(int /*status*/) {}
  // TLS: the handshake completed (never called for plaintext).
  virtual void onStreamEstablished() {}
  // The handle is closed: the last call. The owner may delete itself (and the stream) here.
  virtual void onStreamClosed() = 0;

 protected:
  ~StreamOwner() = default;
};

class Stream {
 public:
  enum class Kind : uint8_t { kTcp, kUnix };
  static constexpr size_t kTlsChunkBytes = 256 << 10;  // plaintext encrypted per write, at most

  Stream(Loop& loop, StreamOwner& owner, Kind kind);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uv_stream_t* uv() noexcept { return &h_.stream; }
  const uv_stream_t* uv() const noexcept { return &h_.stream; }
  Kind kind() const noexcept { return kind_; }

  // TLS over this stream, on ctx (the stream keeps its own reference). A server waits for the
  // peer's hello; a client sends its own once connected. peer_name: the client's SNI and, with
  // verify, the name the server's certificate must carry.
  // Handshakes are counted in stats (which outlives the stream).
  void startTls(SSL_CTX* ctx, TlsChannel::Role role, TlsStats& stats, const std::string& peer_name = {},
                bool verify = false);
  bool tls() const noexcept { return tls_ != nullptr; }
  // Plaintext may be written (always, without TLS; once the handshake is done, with it).
  bool ready() const noexcept { return tls_ == nullptr || tls_->established(); }
  const TlsChannel* tlsChannel() const noexcept { return tls_.get(); }

  // A client stream: connects to addr (TCP) or path (Unix); onStreamConnected reports it.
  int connect(const sockaddr* addr);
  int connect(const std::string& path);
  int readStart();
  void readStop();

  // Plaintext, as much as can go now (TLS: encrypted, up to kTlsChunkBytes per round, for as long
  // as the socket takes it all). Returns the bytes taken, or a libuv error (< 0). Not while busy().
  int tryWrite(const uv_buf_t* bufs, unsigned n) {
    if (tls_ != nullptr) return tryWriteTls(bufs, n);
    int rc = uv_try_write(&h_.stream, bufs, n);  // the plaintext path: as before the stream existed
    return rc == UV_EAGAIN || rc == UV_ENOSYS ? 0 : rc;
  }
  // Queues bufs whole (they must stay valid until onStreamWritten). Plaintext only: under TLS the
  // owner calls tryWrite() again after onStreamWritten. Not while busy().
  int write(const uv_buf_t* bufs, unsigned n);
  bool busy() const noexcept { return write_active_; }
  // Bytes of the write in flight not yet taken by the socket (TLS: its ciphertext).
  size_t queuedBytes() const noexcept;
  // Bytes written but not yet taken by the peer: libuv's queue, TLS output, the kernel's buffer.
  size_t unsentBytes() const noexcept;
  // TLS: writes a close_notify (best effort) before the owner closes.
  void shutdownTls();
  // The handshake did not finish in time (the owner's clock): counted, before the owner closes.
  void countHandshakeTimeout() noexcept;

  // Closes the handle (idempotent). onStreamClosed follows, and nothing else.
  void close();
  bool closing() const noexcept { return closing_; }

  std::string peerAddress() const;
  std::string localAddress() const;

 private:
  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept;
  static void onReadCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWriteCb(uv_write_t* req, int status) noexcept;
  static void onConnectCb(uv_connect_t* req, int status) noexcept;
  static void onCloseCb(uv_handle_t* h) noexcept;
  void onRead(ssize_t nread, const uv_buf_t* buf);
  int tryWriteTls(const uv_buf_t* bufs, unsigned n);
  void onTlsRead(const char* data, size_t len);
  // Sends what TLS wrote (handshake messages, alerts, records) unless a write is in flight;
  // a rest is copied and written. Returns a libuv error or 0.
  int sendTlsOutput();
  void tlsFailed();

  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };

  Loop& loop_;
  StreamOwner& owner_;
  Kind kind_;
  Handle h_;
  uv_write_t write_req_;
  uv_connect_t connect_req_;
  std::unique_ptr<TlsChannel> tls_;
  TlsStats* tls_stats_ = nullptr;
  std::string tls_sending_;   // ciphertext in the uv_write in flight
  bool write_active_ = false; // a uv_write is in flight
  bool closing_ = false;
  bool tls_failed_ = false;   // the owner has been told (onStreamEnd)
};

}  // namespace rcp::net
