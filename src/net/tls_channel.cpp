// One connection's TLS on memory BIOs (see tls_channel.h).
#include "src/net/tls_channel.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <climits>

namespace rcp::net {

namespace {
bool isIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}
}  // namespace

TlsChannel::TlsChannel(SSL_CTX* ctx, Role role) {
  ssl_ = SSL_new(ctx);  // holds a reference on ctx until SSL_free
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    BIO_free(in_);
    BIO_free(out_);
    in_ = out_ = nullptr;
    error_ = "out of memory";
    cause_ = Cause::kProtocol;
    return;
  }
  // An empty input BIO means "more to come", never end of stream: the socket says when it ends.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);
  if (role == Role::kServer) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }  // frees both BIOs

bool TlsChannel::setPeerName(const std::string& name, bool verify) {
  if (ssl_ == nullptr || in_ == nullptr) return false;
  bool ip = isIpAddress(name);
  if (!ip && !name.empty() &&
      SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str())) != 1)
    return false;
  if (!verify || name.empty()) return true;
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) == 1;
  SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl_, name.c_str()) == 1;
}

void TlsChannel::feed(const char* data, size_t len) {
  if (in_ == nullptr) return;
  while (len > 0) {
    int chunk = static_cast<int>(std::min(len, static_cast<size_t>(INT_MAX)));
    int n = BIO_write(in_, data, chunk);  // a memory BIO grows: it takes everything
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
}

long TlsChannel::read(char* buf, size_t cap) {
  if (in_ == nullptr) return kFailed;
  if (cause_ != Cause::kNone) return kFailed;
  // The thread's error queue is empty here: every failure path below empties it. (Clearing it
  // before each call, as OpenSSL's manual suggests, costs 5% of a TLS hit.)
  if (!established_) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc != 1) return fail(SSL_get_error(ssl_, rc));
    established_ = true;
    just_established_ = true;
  }
  size_t n = 0;
  if (SSL_read_ex(ssl_, buf, cap, &n) == 1) return static_cast<long>(n);
  return fail(SSL_get_error(ssl_, 0));
}

long TlsChannel::fail(int ssl_error) {
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:  // no error was queued: nothing to clear (this is every read's end)
    case SSL_ERROR_WANT_WRITE:
      return kWant;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return kClosed;
    default:
      break;
  }
  long verify = SSL_get_verify_result(ssl_);
  std::string why = takeOpenSslError();
  if (verify != X509_V_OK && !established_) {
    cause_ = Cause::kVerify;
    error_ = "certificate verify failed: " + std::string(X509_verify_cert_error_string(verify));
  } else {
    bool peer_cert = why.find("certificate") != std::string::npos;
    cause_ = peer_cert ? Cause::kVerify : Cause::kProtocol;
    error_ = why.empty() ? "protocol error" : why;
  }
  return kFailed;
}

bool TlsChannel::write(const char* data, size_t len) {
  assert(established_);
  if (cause_ != Cause::kNone || len == 0) return cause_ == Cause::kNone;
  size_t n = 0;
  // A memory BIO never pushes back: the whole buffer becomes records now.
  if (SSL_write_ex(ssl_, data, len, &n) == 1 && n == len) return true;
  fail(SSL_get_error(ssl_, 0));
  return false;
}

size_t TlsChannel::pendingOutput() const noexcept { return out_ == nullptr ? 0 : BIO_ctrl_pending(out_); }

std::string_view TlsChannel::output() const noexcept {
  if (out_ == nullptr) return {};
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(out_, &mem);
  return mem == nullptr ? std::string_view() : std::string_view(mem->data, mem->length);
}

void TlsChannel::clearOutput() noexcept {
  if (out_ != nullptr) (void)BIO_reset(out_);
}

void TlsChannel::takeOutput(std::string& out) {
  out.append(output());
  clearOutput();
}

void TlsChannel::shutdown() {
  if (shut_ || !established_ || cause_ != Cause::kNone) return;
  shut_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes close_notify; the peer's is not waited for
  ERR_clear_error();
}

const char* TlsChannel::version() const noexcept { return ssl_ != nullptr ? SSL_get_version(ssl_) : ""; }

const char* TlsChannel::cipher() const noexcept {
  const char* c = ssl_ != nullptr ? SSL_get_cipher_name(ssl_) : nullptr;
  return c != nullptr ? c : "";
}

bool TlsChannel::resumed() const noexcept { return ssl_ != nullptr && SSL_session_reused(ssl_) == 1; }

bool TlsChannel::peerVerified() const noexcept {
  if (ssl_ == nullptr) return false;
  X509* peer = SSL_get0_peer_certificate(ssl_);
  return peer != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

void TlsChannel::count(TlsStats& stats) const {
  ++stats.handshakes;
  if (resumed()) ++stats.resumed;
  ++stats.versions[version()];
  ++stats.ciphers[cipher()];
}

void TlsChannel::countFailure(TlsStats& stats, Cause cause) noexcept {
  switch (cause) {
    case Cause::kVerify: ++stats.failed_verify; break;
    case Cause::kClosed: ++stats.failed_closed; break;
    default: ++stats.failed_protocol; break;
  }
}

}  // namespace rcp::net
