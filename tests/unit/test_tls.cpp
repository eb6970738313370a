// The TLS layer (src/net): handshakes and records fed whole and byte by byte between two channels
// in memory, a record cut short, a close mid-record, renegotiation refused, verification of chain,
// name and client certificates, resumption across a reload. Certificates come from a throwaway CA
// made here with OpenSSL's API, written to a temporary directory.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "src/net/tls_channel.h"
#include "src/net/tls_context.h"

using rcp::net::TlsChannel;

namespace {

EVP_PKEY* newKey() { return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); }

// A certificate for key, signed by issuer_key (self-signed when issuer is null), with a SAN list.
X509* newCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, const char* san, bool ca, long serial) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  };
  add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
  if (san != nullptr) add(NID_subject_alt_name, san);
  X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

struct Pki {
  std::string dir;
  std::string ca, server_cert, server_key, client_cert, client_key, other_ca;
  Pki() {
    char tmpl[] = "/tmp/rcp-tls-unit-XXXXXX";
    dir = mkdtemp(tmpl);
    EVP_PKEY* ca_key = newKey();
    X509* ca_cert = newCert(ca_key, "Test CA", nullptr, nullptr, nullptr, true, 1);
    EVP_PKEY* s_key = newKey();
    X509* s_cert = newCert(s_key, "localhost", ca_cert, ca_key, "DNS:localhost,IP:127.0.0.1", false, 2);
    EVP_PKEY* c_key = newKey();
    X509* c_cert = newCert(c_key, "client", ca_cert, ca_key, nullptr, false, 3);
    EVP_PKEY* o_key = newKey();
    X509* o_cert = newCert(o_key, "Other CA", nullptr, nullptr, nullptr, true, 4);
    ca = write("ca.pem", ca_cert, nullptr);
    other_ca = write("other-ca.pem", o_cert, nullptr);
    server_cert = write("server.pem", s_cert, nullptr);
    server_key = write("server.key", nullptr, s_key);
    client_cert = write("client.pem", c_cert, nullptr);
    client_key = write("client.key", nullptr, c_key);
    for (X509* x : {ca_cert, s_cert, c_cert, o_cert}) X509_free(x);
    for (EVP_PKEY* k : {ca_key, s_key, c_key, o_key}) EVP_PKEY_free(k);
  }
  ~Pki() {
    for (const std::string& f : {ca, other_ca, server_cert, server_key, client_cert, client_key}) unlink(f.c_str());
    rmdir(dir.c_str());
  }
  std::string write(const char* name, X509* cert, EVP_PKEY* key) {
    std::string path = dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    if (cert != nullptr) PEM_write_X509(f, cert);
    if (key != nullptr) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    return path;
  }
};

const Pki& pki() {
  static Pki p;
  return p;
}

rcp::net::SslCtxPtr serverCtx(rcp::net::TlsServerSettings s = {}) {
  if (s.cert_file.empty()) s.cert_file = pki().server_cert;
  if (s.key_file.empty()) s.key_file = pki().server_key;
  std::string error;
  rcp::net::SslCtxPtr ctx = rcp::net::makeServerContext(s, &error);
  INFO(error);
  REQUIRE(ctx);
  return ctx;
}

rcp::net::SslCtxPtr clientCtx(rcp::net::TlsClientSettings s = {}) {
  if (s.ca_file.empty()) s.ca_file = pki().ca;
  std::string error;
  rcp::net::SslCtxPtr ctx = rcp::net::makeClientContext(s, &error);
  INFO(error);
  REQUIRE(ctx);
  return ctx;
}

// One side of a conversation: its channel and the plaintext it has read, and how it ended.
struct Side {
  TlsChannel ch;
  std::string plain;
  long last = TlsChannel::kWant;
  Side(SSL_CTX* ctx, TlsChannel::Role role) : ch(ctx, role) {}
  void drain() {
    char buf[4096];
    for (;;) {
      last = ch.read(buf, sizeof buf);
      if (last <= 0) return;
      plain.append(buf, static_cast<size_t>(last));
    }
  }
};

// Moves what `from` wrote to `to`, step bytes per feed, reading after each.
void pass(Side& from, Side& to, size_t step) {
  std::string bytes;
  from.ch.takeOutput(bytes);
  for (size_t i = 0; i < bytes.size(); i += step) {
    to.ch.feed(bytes.data() + i, std::min(step, bytes.size() - i));
    to.drain();
  }
}

// Runs the handshake to its end (or a failure): false if it did not complete.
bool shake(Side& client, Side& server, size_t step) {
  client.drain();  // the client's hello
  for (int round = 0; round < 20; ++round) {
    pass(client, server, step);
    pass(server, client, step);
    if (client.last < TlsChannel::kWant || server.last < TlsChannel::kWant) return false;
    if (client.ch.established() && server.ch.established() && client.ch.pendingOutput() == 0 &&
        server.ch.pendingOutput() == 0)
      return true;
  }
  return false;
}

// A bare OpenSSL client on memory BIOs, talking to a server Side: for what TlsChannel never does by
// itself (renegotiate, offer a saved session).
struct RawClient {
  SSL* ssl;
  BIO* in;
  BIO* out;
  explicit RawClient(SSL_CTX* ctx, SSL_SESSION* session = nullptr) : ssl(SSL_new(ctx)) {
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    if (session != nullptr) SSL_set_session(ssl, session);
  }
  ~RawClient() { SSL_free(ssl); }
  // What the client wrote to the server, and the server's answer back.
  void exchange(Side& server) {
    char buf[16384];
    int n;
    while ((n = BIO_read(out, buf, sizeof buf)) > 0) server.ch.feed(buf, static_cast<size_t>(n));
    server.drain();
    std::string bytes;
    server.ch.takeOutput(bytes);
    BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
  }
  // Runs the handshake with server; SSL_do_handshake's last result.
  int handshake(Side& server) {
    int rc = 0;
    for (int i = 0; i < 10 && !(rc == 1 && server.ch.established()); ++i) {
      rc = SSL_do_handshake(ssl);
      exchange(server);
    }
    return rc;
  }
};

}  // namespace

TEST_CASE("tls: a handshake and records cross whole and byte by byte, in both directions") {
  for (size_t step : {size_t{1 << 20}, size_t{1}, size_t{7}}) {
    CAPTURE(step);
    auto sctx = serverCtx();
    auto cctx = clientCtx();
    Side server(sctx.get(), TlsChannel::Role::kServer);
    Side client(cctx.get(), TlsChannel::Role::kClient);
    REQUIRE(client.ch.setPeerName("localhost", true));
    REQUIRE(shake(client, server, step));
    CHECK(std::string(server.ch.version()) == "TLSv1.3");
    CHECK(std::string(client.ch.cipher()) == server.ch.cipher());
    // A request and a reply larger than one record (16 KiB), split at every byte on the way.
    std::string request = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    std::string reply(40000, 'v');
    for (size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<char>('a' + i % 26);
    REQUIRE(client.ch.write(request.data(), request.size()));
    pass(client, server, step);
    CHECK(server.plain == request);
    REQUIRE(server.ch.write(reply.data(), reply.size()));
    pass(server, client, step);
    CHECK(client.plain == reply);
  }
}

TEST_CASE("tls: a record cut short yields nothing until its rest comes; a close mid-record yields nothing at all") {
  auto sctx = serverCtx();
  auto cctx = clientCtx();
  Side server(sctx.get(), TlsChannel::Role::kServer);
  Side client(cctx.get(), TlsChannel::Role::kClient);
  REQUIRE(shake(client, server, 1 << 20));
  std::string text = "hello over tls";
  REQUIRE(client.ch.write(text.data(), text.size()));
  std::string record;
  client.ch.takeOutput(record);
  REQUIRE(record.size() > text.size());
  server.ch.feed(record.data(), record.size() - 1);  // all but the last byte
  server.drain();
  CHECK(server.plain.empty());  // no partial plaintext from an unauthenticated record
  CHECK(server.last == TlsChannel::kWant);
  server.ch.feed(record.data() + record.size() - 1, 1);
  server.drain();
  CHECK(server.plain == text);
  // A close_notify ends the stream cleanly.
  client.ch.shutdown();
  pass(client, server, 1 << 20);
  CHECK(server.last == TlsChannel::kClosed);
}

TEST_CASE("tls: garbage or plaintext sent to the TLS side fails the channel as a protocol error") {
  auto sctx = serverCtx();
  for (std::string junk : {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string("*1\r\n$4\r\nPING\r\n"),
                           std::string(300, '\x16')}) {
    Side server(sctx.get(), TlsChannel::Role::kServer);
    for (char ch : junk) {  // byte by byte: it must fail, not wait forever
      server.ch.feed(&ch, 1);
      server.drain();
      if (server.last == TlsChannel::kFailed) break;
    }
    CHECK(server.last == TlsChannel::kFailed);
    CHECK(server.ch.cause() == TlsChannel::Cause::kProtocol);
    CHECK_FALSE(server.ch.error().empty());
  }
}

TEST_CASE("tls: the server's certificate is verified: chain, host name, IP entries; insecure skips both") {
  auto sctx = serverCtx();
  struct Case {
    const char* name;
    bool verify;
    bool trusted;
    bool ok;
    const char* error;
  };
  for (const Case& c : {Case{"localhost", true, true, true, ""}, Case{"127.0.0.1", true, true, true, ""},
                        Case{"redis.example", true, true, false, "hostname mismatch"},
                        Case{"127.0.0.2", true, true, false, "IP address mismatch"},
                        Case{"localhost", true, false, false, "certificate verify failed"},
                        Case{"redis.example", false, true, true, ""}}) {
    CAPTURE(c.name);
    CAPTURE(c.trusted);
    rcp::net::TlsClientSettings cs;
    cs.ca_file = c.trusted ? pki().ca : pki().other_ca;
    auto cctx = clientCtx(cs);
    Side server(sctx.get(), TlsChannel::Role::kServer);
    Side client(cctx.get(), TlsChannel::Role::kClient);
    REQUIRE(client.ch.setPeerName(c.name, c.verify));
    CHECK(shake(client, server, 1 << 20) == c.ok);
    if (!c.ok) {
      CHECK(client.ch.cause() == TlsChannel::Cause::kVerify);
      CHECK(client.ch.error().find(c.error) != std::string::npos);
    }
  }
  // --backend-tls-insecure: no chain check either.
  rcp::net::TlsClientSettings insecure;
  insecure.ca_file = pki().other_ca;
  insecure.insecure = true;
  auto ictx = clientCtx(insecure);
  Side server(sctx.get(), TlsChannel::Role::kServer);
  Side client(ictx.get(), TlsChannel::Role::kClient);
  REQUIRE(client.ch.setPeerName("redis.example", false));
  CHECK(shake(client, server, 1 << 20));
}

TEST_CASE("tls: client certificates: yes refuses a client without one, optional verifies one when shown") {
  using Auth = rcp::net::TlsServerSettings::Auth;
  rcp::net::TlsClientSettings with_cert;
  with_cert.cert_file = pki().client_cert;
  with_cert.key_file = pki().client_key;
  auto bare = clientCtx();
  auto mutual = clientCtx(with_cert);
  for (Auth auth : {Auth::kYes, Auth::kOptional}) {
    rcp::net::TlsServerSettings ss;
    ss.ca_file = pki().ca;
    ss.auth_clients = auth;
    auto sctx = serverCtx(ss);
    {
      Side server(sctx.get(), TlsChannel::Role::kServer);
      Side client(bare.get(), TlsChannel::Role::kClient);
      bool ok = shake(client, server, 1 << 20);
      if (auth == Auth::kYes) {
        // TLS 1.3: the client thinks it is done; the server refuses, and says so in an alert.
        CHECK_FALSE(server.ch.established());
        CHECK(server.ch.cause() == TlsChannel::Cause::kVerify);
        pass(server, client, 1 << 20);
        CHECK(client.last == TlsChannel::kFailed);
      } else {
        CHECK(ok);
        CHECK_FALSE(server.ch.peerVerified());
      }
    }
    Side server(sctx.get(), TlsChannel::Role::kServer);
    Side client(mutual.get(), TlsChannel::Role::kClient);
    CHECK(shake(client, server, 1 << 20));
    CHECK(server.ch.peerVerified());
  }
}

TEST_CASE("tls: renegotiation is refused (TLS 1.2)") {
  rcp::net::TlsServerSettings ss;
  ss.protocols = "TLSv1.2";
  auto sctx = serverCtx(ss);
  auto cctx = clientCtx();
  Side server(sctx.get(), TlsChannel::Role::kServer);
  // The client is a bare SSL object: TlsChannel never renegotiates by itself.
  RawClient client(cctx.get());
  SSL* c = client.ssl;
  SSL_clear_options(c, SSL_OP_NO_RENEGOTIATION);  // this client asks for one
  int rc = client.handshake(server);
  REQUIRE(rc == 1);
  REQUIRE(server.ch.established());
  CHECK(std::string(server.ch.version()) == "TLSv1.2");
  REQUIRE(SSL_renegotiate(c) == 1);
  rc = SSL_do_handshake(c);  // sends a new ClientHello
  client.exchange(server);
  rc = SSL_do_handshake(c);
  for (int i = 0; i < 5 && rc != 1 && SSL_get_error(c, rc) == SSL_ERROR_WANT_READ; ++i) {
    client.exchange(server);
    rc = SSL_do_handshake(c);
  }
  CHECK(rc != 1);  // the server said no (no_renegotiation): the client's renegotiation failed
  CHECK(rcp::net::takeOpenSslError().find("renegotiation") != std::string::npos);
}

TEST_CASE("tls: a reconnecting client resumes its session with a ticket, also across a reload") {
  rcp::net::TlsEndpoint endpoint;
  endpoint.replace(serverCtx());
  CHECK(endpoint.expiry() > 0);
  auto cctx = clientCtx();
  SSL_SESSION* session = nullptr;
  auto connect = [&](bool* resumed) {
    Side server(endpoint.ctx(), TlsChannel::Role::kServer);
    RawClient client(cctx.get(), session);
    REQUIRE(client.handshake(server) == 1);
    char buf[16384];
    SSL_read(client.ssl, buf, sizeof buf);  // TLS 1.3 tickets arrive after the handshake
    *resumed = server.ch.resumed();
    if (session != nullptr) SSL_SESSION_free(session);
    session = SSL_get1_session(client.ssl);
    SSL_shutdown(client.ssl);  // a session of a connection freed without a shutdown is not resumed
  };
  bool resumed = true;
  connect(&resumed);
  CHECK_FALSE(resumed);
  connect(&resumed);
  CHECK(resumed);
  endpoint.replace(serverCtx());  // SIGHUP: a new context, the same ticket keys
  connect(&resumed);
  CHECK(resumed);
  SSL_SESSION_free(session);
}

TEST_CASE("tls: a context that does not load says which flag and file") {
  std::string error;
  rcp::net::TlsServerSettings s;
  s.cert_file = "/nonexistent/cert.pem";
  s.key_file = pki().server_key;
  CHECK_FALSE(rcp::net::makeServerContext(s, &error));
  CHECK(error.find("--tls-cert-file '/nonexistent/cert.pem'") == 0);
  s.cert_file = pki().server_cert;
  s.key_file = pki().client_key;  // a key of another certificate
  CHECK_FALSE(rcp::net::makeServerContext(s, &error));
  CHECK(error.find("--tls-key-file '" + pki().client_key + "'") == 0);
  CHECK(error.find("mismatch") != std::string::npos);
  s.key_file = pki().server_key;
  s.protocols = "TLSv1.1";
  CHECK_FALSE(rcp::net::makeServerContext(s, &error));
  CHECK(error.find("too weak") != std::string::npos);
  rcp::net::TlsClientSettings c;
  c.ca_file = "/nonexistent/ca.pem";
  CHECK_FALSE(rcp::net::makeClientContext(c, &error));
  CHECK(error.find("--backend-tls-ca-cert-file") == 0);
}
