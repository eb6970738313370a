// Unit tests of the hardening pieces that are pure functions: CONFIG GET replies redacted (RESP2
// arrays, RESP3 maps, other shapes untouched) and protected mode's loopback rules.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <string>

#include "resp/redact.h"
#include "resp/resp3_reader.h"
#include "src/base/config.h"
#include "src/client/protected_mode.h"

namespace {
// The reply given (RESP), redacted, as bytes.
std::string redacted(const std::string& reply) {
  rcp::resp::Resp3Reader r;
  REQUIRE(r.feed(reply.data(), reply.size()));
  REQUIRE(r.next() == rcp::resp::Resp3Reader::Status::kFrame);
  std::string out;
  rcp::resp::encodeConfigRedacted(r.frame().root(), out);
  return out;
}

sockaddr_in v4(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, ip, &a.sin_addr) == 1);
  return a;
}
sockaddr_in6 v6(const char* ip) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  REQUIRE(inet_pton(AF_INET6, ip, &a.sin6_addr) == 1);
  return a;
}
}  // namespace

TEST_CASE("redact: CONFIG GET replies lose the credential pairs, in RESP2 and RESP3") {
  CHECK(redacted("*6\r\n$11\r\nrequirepass\r\n$6\r\ns3cret\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$10\r\nmasterauth\r\n$2\r\nmp\r\n") ==
        "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
  CHECK(redacted("%2\r\n$10\r\nMASTERUSER\r\n$1\r\nu\r\n$4\r\nport\r\n$4\r\n6379\r\n") == "%1\r\n$4\r\nport\r\n$4\r\n6379\r\n");
  CHECK(redacted("*4\r\n$17\r\ntls-key-file-pass\r\n$1\r\nx\r\n$24\r\ntls-client-key-file-pass\r\n$1\r\ny\r\n") == "*0\r\n");
  // no credential: the bytes Redis sent; other shapes as they are
  for (std::string same : {std::string("*2\r\n$4\r\nport\r\n$4\r\n6379\r\n"), std::string("*0\r\n"), std::string("-ERR unknown\r\n"),
                           std::string("+OK\r\n"), std::string("*1\r\n$11\r\nrequirepass\r\n"), std::string("%0\r\n")}) {
    CAPTURE(same);
    CHECK(redacted(same) == same);
  }
  CHECK(rcp::resp::isCredentialParameter("RequirePass"));
  CHECK_FALSE(rcp::resp::isCredentialParameter("requirepas"));
  CHECK_FALSE(rcp::resp::isCredentialParameter("maxmemory"));
}

TEST_CASE("protected mode: loopback addresses and binds; who is refused") {
  auto a = v4("127.0.0.1"), b = v4("127.255.0.9"), c = v4("192.0.2.1"), d = v4("10.0.0.1");
  auto e = v6("::1"), f = v6("::ffff:127.0.0.1"), g = v6("2001:db8::1"), h = v6("::ffff:192.0.2.1");
  using rcp::client::isLoopbackAddress;
  CHECK(isLoopbackAddress(reinterpret_cast<sockaddr*>(&a)));
  CHECK(isLoopbackAddress(reinterpret_cast<sockaddr*>(&b)));
  CHECK_FALSE(isLoopbackAddress(reinterpret_cast<sockaddr*>(&c)));
  CHECK_FALSE(isLoopbackAddress(reinterpret_cast<sockaddr*>(&d)));
  CHECK(isLoopbackAddress(reinterpret_cast<sockaddr*>(&e)));
  CHECK(isLoopbackAddress(reinterpret_cast<sockaddr*>(&f)));
  CHECK_FALSE(isLoopbackAddress(reinterpret_cast<sockaddr*>(&g)));
  CHECK_FALSE(isLoopbackAddress(reinterpret_cast<sockaddr*>(&h)));
  using rcp::client::isLoopbackBind;
  for (const char* yes : {"127.0.0.1", "127.0.0.2", "::1", "localhost"}) CHECK(isLoopbackBind(yes));
  for (const char* no : {"0.0.0.0", "::", "192.0.2.1", "example.org"}) CHECK_FALSE(isLoopbackBind(no));

  rcp::Config cfg;
  cfg.bind = "0.0.0.0";
  CHECK(rcp::client::protectedModeDenies(cfg, reinterpret_cast<sockaddr*>(&c)));
  CHECK_FALSE(rcp::client::protectedModeDenies(cfg, reinterpret_cast<sockaddr*>(&a)));
  std::string why = rcp::client::protectedModeMessage(cfg);
  for (const char* fix : {"--requirepass", "--bind 127.0.0.1", "--protected-mode no", "0.0.0.0"})
    CHECK(why.find(fix) != std::string::npos);
  cfg.requirepass = "pw";  // a password: everyone may connect, and must AUTH
  CHECK_FALSE(rcp::client::protectedModeDenies(cfg, reinterpret_cast<sockaddr*>(&c)));
  cfg.requirepass.clear();
  cfg.protected_mode = false;
  CHECK_FALSE(rcp::client::protectedModeDenies(cfg, reinterpret_cast<sockaddr*>(&c)));
  cfg.protected_mode = true;
  cfg.bind = "127.0.0.1";  // only loopback can reach it anyway
  CHECK_FALSE(rcp::client::protectedModeDenies(cfg, reinterpret_cast<sockaddr*>(&c)));
}
