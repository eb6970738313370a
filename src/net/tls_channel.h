// One connection's TLS: an OpenSSL SSL object driven through memory BIOs, so that the bytes come
// from and go to libuv as for any connection and nothing ever blocks the loop. Ciphertext read
// from the socket is fed in, plaintext comes out of read(); plaintext written goes out as
// ciphertext in output(), which the owner sends (handshake messages, records, alerts alike).
// The handshake is a state of the channel: read() drives it until it is done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/net/tls_context.h"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace rcp::net {

class TlsChannel {
 public:
  enum class Role : uint8_t { kServer, kClient };
  // Why a channel failed, for the counters (TlsStats).
  enum class Cause : uint8_t { kNone, kVerify, kProtocol, kClosed };

  // Takes a reference of its own on ctx: a reload swapping the endpoint's context leaves it alone.
  TlsChannel(SSL_CTX* ctx, Role role);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  // Client role, before the first read(): the server name sent (SNI, not for an IP address) and,
  // with verify, the name its certificate must carry (an IP address is matched against the
  // certificate's IP entries, as curl does).
  bool setPeerName(const std::string& name, bool verify);

  // Ciphertext from the peer; copied, so the caller's buffer may be reused at once.
  void feed(const char* data, size_t len);

  // Plaintext decrypted from what was fed, into buf: the byte count; kWant: nothing more until more
  // ciphertext comes (the handshake may have queued output meanwhile); kClosed: the peer closed
  // the stream (close_notify); kFailed: error() says why. Drives the handshake while it lasts.
  static constexpr long kWant = 0, kClosed = -1, kFailed = -2;
  long read(char* buf, size_t cap);

  bool established() const noexcept { return established_; }
  // True once, the first time it is asked after the handshake completed (to count it).
  bool takeJustEstablished() noexcept {
    bool j = just_established_;
    just_established_ = false;
    return j;
  }

  // Encrypts len bytes of plaintext into output(). Only once established(). False on failure.
  bool write(const char* data, size_t len);
  // Ciphertext waiting to be sent: the owner sends what it can straight from the view, keeps a
  // copy of the rest, then clears it (no copy on the common path where the socket takes it all).
  size_t pendingOutput() const noexcept;
  std::string_view output() const noexcept;
  void clearOutput() noexcept;
  // Moves the waiting ciphertext to the end of out.
  void takeOutput(std::string& out);
  // A close_notify alert into output(), once (a clean end of the stream).
  void shutdown();

  const std::string& error() const noexcept { return error_; }
  Cause cause() const noexcept { return cause_; }
  // After the handshake: "TLSv1.3", the cipher's name, whether a session was resumed.
  const char* version() const noexcept;
  const char* cipher() const noexcept;
  bool resumed() const noexcept;
  // The peer presented a certificate that verified (a client, under --tls-auth-clients).
  bool peerVerified() const noexcept;
  // Adds this channel's completed handshake to stats (once, after establishment).
  void count(TlsStats& stats) const;
  static void countFailure(TlsStats& stats, Cause cause) noexcept;

 private:
  long fail(int ssl_error);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // ciphertext fed, read by OpenSSL (owned by ssl_)
  BIO* out_ = nullptr;  // ciphertext OpenSSL wrote, taken by the owner (owned by ssl_)
  std::string error_;
  Cause cause_ = Cause::kNone;
  bool established_ = false;
  bool just_established_ = false;
  bool shut_ = false;
};

}  // namespace rcp::net
