// Building and swapping TLS contexts (see tls_context.h).
#include "src/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <sstream>

namespace rcp::net {

namespace {

// The session id context a server needs for resumption once it verifies client certificates.
constexpr unsigned char kSessionContext[] = "redis-cache-proxy";
constexpr int kTicketKeyBytes = 80;  // OpenSSL's name + HMAC + AES ticket keys

bool failWith(std::string* error, const std::string& what) {
  std::string why = takeOpenSslError();
  *error = why.empty() ? what : what + ": " + why;
  return false;
}

// A context with what both sides share: the protocol range, no renegotiation, no compression,
// buffers given back while idle. Null (and *error) when it cannot be made.
SslCtxPtr newContext(const SSL_METHOD* method, const std::string& protocols, std::string* error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) {
    failWith(error, "SSL_CTX_new");
    return nullptr;
  }
  int min_v = 0, max_v = 0;
  if (!parseProtocols(protocols, &min_v, &max_v, error)) return nullptr;
  if (SSL_CTX_set_min_proto_version(ctx.get(), min_v) != 1 || SSL_CTX_set_max_proto_version(ctx.get(), max_v) != 1) {
    failWith(error, "protocols '" + protocols + "'");
    return nullptr;
  }
  // Renegotiation is refused (a client-triggered one is a CPU lever, and Redis refuses it too);
  // compression is off (CRIME).
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its record buffers back: a TLS client costs little more than a plain one.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

bool loadIdentity(SSL_CTX* ctx, const std::string& cert, const std::string& key, const char* cert_flag,
                  const char* key_flag, std::string* error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return failWith(error, std::string(cert_flag) + " '" + cert + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return failWith(error, std::string(key_flag) + " '" + key + "'");
  if (SSL_CTX_check_private_key(ctx) != 1)
    return failWith(error, std::string(key_flag) + " '" + key + "' does not match " + cert_flag + " '" + cert + "'");
  return true;
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }

std::string takeOpenSslError() {
  unsigned long e = ERR_get_error();
  std::string text;
  if (e != 0) {
    if (const char* reason = ERR_reason_error_string(e)) text = reason;
    else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      text = buf;
    }
  }
  ERR_clear_error();
  return text;
}

bool parseProtocols(const std::string& names, int* min_version, int* max_version, std::string* error) {
  std::istringstream in(names);
  std::string name;
  int lo = 0, hi = 0;
  while (in >> name) {
    int v = 0;
    if (name == "TLSv1.2") v = TLS1_2_VERSION;
    else if (name == "TLSv1.3") v = TLS1_3_VERSION;
    else if (name == "TLSv1" || name == "TLSv1.1") {
      *error = "protocol " + name + " is not offered (too weak): use TLSv1.2 and/or TLSv1.3";
      return false;
    } else {
      *error = "unknown protocol '" + name + "' (TLSv1.2, TLSv1.3)";
      return false;
    }
    lo = lo == 0 ? v : std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo == 0) {
    *error = "no protocol given (TLSv1.2, TLSv1.3)";
    return false;
  }
  *min_version = lo;
  *max_version = hi;
  return true;
}

SslCtxPtr makeServerContext(const TlsServerSettings& s, std::string* error) {
  SslCtxPtr ctx = newContext(TLS_server_method(), s.protocols, error);
  if (!ctx) return nullptr;
  if (s.cert_file.empty() || s.key_file.empty()) {
    *error = "--tls-cert-file and --tls-key-file are both needed for a TLS listener";
    return nullptr;
  }
  if (!loadIdentity(ctx.get(), s.cert_file, s.key_file, "--tls-cert-file", "--tls-key-file", error)) return nullptr;
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), s.ciphers.c_str()) != 1) {
    failWith(error, "--tls-ciphers '" + s.ciphers + "'");
    return nullptr;
  }
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), s.ciphersuites.c_str()) != 1) {
    failWith(error, "--tls-ciphersuites '" + s.ciphersuites + "'");
    return nullptr;
  }
  if (s.auth_clients != TlsServerSettings::Auth::kNo) {
    if (s.ca_file.empty()) {
      *error = "--tls-auth-clients needs --tls-ca-cert-file (the CAs client certificates are verified against)";
      return nullptr;
    }
    if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
      failWith(error, "--tls-ca-cert-file '" + s.ca_file + "'");
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
    int mode = SSL_VERIFY_PEER;
    if (s.auth_clients == TlsServerSettings::Auth::kYes) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  } else if (!s.ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
    failWith(error, "--tls-ca-cert-file '" + s.ca_file + "'");
    return nullptr;
  }
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  return ctx;
}

SslCtxPtr makeClientContext(const TlsClientSettings& s, std::string* error) {
  SslCtxPtr ctx = newContext(TLS_client_method(), s.protocols, error);
  if (!ctx) return nullptr;
  if (s.cert_file.empty() != s.key_file.empty()) {
    *error = "--backend-tls-cert-file and --backend-tls-key-file go together";
    return nullptr;
  }
  if (!s.cert_file.empty() &&
      !loadIdentity(ctx.get(), s.cert_file, s.key_file, "--backend-tls-cert-file", "--backend-tls-key-file", error))
    return nullptr;
  if (!s.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
      failWith(error, "--backend-tls-ca-cert-file '" + s.ca_file + "'");
      return nullptr;
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    failWith(error, "the system trust store");
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), s.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  return ctx;
}

int64_t certificateExpiry(SSL_CTX* ctx) {
  X509* cert = ctx != nullptr ? SSL_CTX_get0_certificate(ctx) : nullptr;
  if (cert == nullptr) return 0;
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  struct tm t {};
  if (not_after == nullptr || ASN1_TIME_to_tm(not_after, &t) != 1) return 0;
  return static_cast<int64_t>(timegm(&t));
}

void TlsEndpoint::replace(SslCtxPtr ctx) {
  if (ctx_ && ctx && SSL_CTX_get_verify_mode(ctx.get()) == SSL_CTX_get_verify_mode(ctx_.get())) {
    // The ticket keys of the context being replaced: a client resuming a session across a reload
    // still skips the full handshake.
    unsigned char keys[kTicketKeyBytes];
    if (SSL_CTX_get_tlsext_ticket_keys(ctx_.get(), keys, sizeof keys) == 1)
      SSL_CTX_set_tlsext_ticket_keys(ctx.get(), keys, sizeof keys);
    OPENSSL_cleanse(keys, sizeof keys);
  }
  ctx_ = std::move(ctx);
  expiry_ = certificateExpiry(ctx_.get());
}

}  // namespace rcp::net
