// TLS contexts: the certificates, CAs and protocol rules of one side (the proxy as a server to its
// clients, or as a client of Redis) built into an OpenSSL SSL_CTX, plus the counters both sides
// share. A context is swapped whole on reload: new connections take the new one, connections
// already open keep the one they started with (SSL_CTX is reference-counted).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace rcp::net {

// What one side's handshakes came to, for INFO and /metrics.
struct TlsStats {
  uint64_t handshakes = 0;        // completed
  uint64_t resumed = 0;           // of which resumed an earlier session (no full handshake)
  uint64_t failed_verify = 0;     // the peer's certificate was refused (or missing when required)
  uint64_t failed_protocol = 0;   // not TLS, no common version or cipher, a bad record
  uint64_t failed_closed = 0;     // the peer went away in the middle of the handshake
  uint64_t failed_timeout = 0;    // the handshake did not finish within its time
  std::map<std::string, uint64_t> versions;  // "TLSv1.3" -> completed handshakes
  std::map<std::string, uint64_t> ciphers;   // "TLS_AES_256_GCM_SHA384" -> completed handshakes
  uint64_t failures() const noexcept { return failed_verify + failed_protocol + failed_closed + failed_timeout; }
};

// The proxy's listener side (Redis's flag names: --tls-cert-file, --tls-auth-clients, ...).
struct TlsServerSettings {
  std::string cert_file;      // PEM, the certificate and its chain
  std::string key_file;       // PEM
  std::string ca_file;        // CAs client certificates are verified against (empty: none)
  enum class Auth : uint8_t { kNo, kYes, kOptional };
  Auth auth_clients = Auth::kNo;
  std::string protocols = "TLSv1.2 TLSv1.3";
  std::string ciphers;        // TLS 1.2 cipher list (empty: OpenSSL's default)
  std::string ciphersuites;   // TLS 1.3 suites (empty: OpenSSL's default)
};

// The proxy's side towards Redis (rediss://).
struct TlsClientSettings {
  std::string ca_file;        // empty: the system trust store
  std::string cert_file;      // a client certificate, for a Redis with tls-auth-clients yes
  std::string key_file;
  bool insecure = false;      // no verification of the server's chain nor name
  std::string protocols = "TLSv1.2 TLSv1.3";
};

// An owned SSL_CTX reference.
struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const noexcept;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Build a context, or return null with *error saying which file or setting failed and why.
SslCtxPtr makeServerContext(const TlsServerSettings& s, std::string* error);
SslCtxPtr makeClientContext(const TlsClientSettings& s, std::string* error);

// The first certificate's notAfter as Unix seconds (0: none or unreadable).
int64_t certificateExpiry(SSL_CTX* ctx);

// "TLSv1.2 TLSv1.3" -> min and max versions; false (and *error) on a name it does not know.
bool parseProtocols(const std::string& names, int* min_version, int* max_version, std::string* error);

// The oldest OpenSSL error on this thread's queue as text, and the queue cleared ("" if none).
std::string takeOpenSslError();

// One side's current context, reloadable. Owned by the server; connections take ctx() when they
// start and keep a reference of their own.
class TlsEndpoint {
 public:
  TlsEndpoint() = default;
  TlsEndpoint(const TlsEndpoint&) = delete;
  TlsEndpoint& operator=(const TlsEndpoint&) = delete;

  SSL_CTX* ctx() const noexcept { return ctx_.get(); }
  bool enabled() const noexcept { return ctx_ != nullptr; }
  // Replaces the context (the session ticket keys carry over, so resumption survives a reload).
  void replace(SslCtxPtr ctx);
  int64_t expiry() const noexcept { return expiry_; }
  TlsStats stats;
  uint64_t reload_failures = 0;  // reloads whose files did not load (the context in use stayed)
  // The client side: the name sent as SNI and verified (empty: each address's own host), and
  // whether the name is checked at all (--backend-tls-insecure turns both checks off).
  std::string server_name;
  bool verify_name = true;

 private:
  SslCtxPtr ctx_;
  int64_t expiry_ = 0;  // the certificate's notAfter, Unix seconds
};

}  // namespace rcp::net
