// Unit tests for protocol sniffing on the first bytes of a connection.
#include <doctest/doctest.h>

#include <string>

#include "src/client/sniff.h"

using rcp::client::Protocol;
using rcp::client::sniffProtocol;

TEST_CASE("sniffing the protocol from the first bytes") {
  CHECK(sniffProtocol("", 100) == Protocol::kUnknown);
  CHECK(sniffProtocol("*", 100) == Protocol::kResp);
  CHECK(sniffProtocol("*2\r\n$3\r\nGET\r\n", 100) == Protocol::kResp);
  CHECK(sniffProtocol("GET /foo HTTP/1.1\r\nHost: x\r\n", 100) == Protocol::kHttp);
  CHECK(sniffProtocol("GET /foo HTTP/1.0\n", 100) == Protocol::kHttp);
  CHECK(sniffProtocol("GET /foo HTTP/1.", 100) == Protocol::kUnknown);  // line not complete yet
  CHECK(sniffProtocol("GET foo\r\n", 100) == Protocol::kResp);          // inline RESP
  CHECK(sniffProtocol("PING\r\n", 100) == Protocol::kResp);
  CHECK(sniffProtocol("get HTTP/1.1\r\n", 100) == Protocol::kHttp);      // a request line, however odd
  CHECK(sniffProtocol("PRI * HTTP/2.0\r\n", 100) == Protocol::kHttp);
}

TEST_CASE("a first line longer than the sniff limit is decided by its start") {
  std::string http = "GET /" + std::string(200, 'a');
  CHECK(sniffProtocol(http, 100) == Protocol::kHttp);
  std::string inl = "SET " + std::string(200, 'a');
  CHECK(sniffProtocol(inl, 100) == Protocol::kResp);
  CHECK(sniffProtocol(std::string(50, 'a'), 100) == Protocol::kUnknown);
}
