// Unit tests for http/: request parsing (whole and byte by byte, pipelined), limits, malformed
// input, percent-decoding and key extraction, response heads and the Date header.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http/conditional.h"
#include "http/host.h"
#include "http/percent.h"
#include "http/request_parser.h"
#include "http/response.h"

using rcp::http::Method;
using rcp::http::RequestParser;

namespace {
struct Got {
  Method method;
  std::string target;
  bool keep_alive;
  int minor;
  bool upgrade;
};
struct Result {
  std::vector<Got> requests;
  int error = 0;
};

Result parse(const std::string& in, size_t step, rcp::http::RequestLimits limits = {}) {
  RequestParser p(limits);
  Result r;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    size_t off = 0;
    while (off < n) {
      size_t used = 0;
      auto st = p.parse(in.data() + pos + off, n - off, used);
      off += used;
      if (st == RequestParser::Status::kError) {
        r.error = p.errorStatus();
        return r;
      }
      if (st == RequestParser::Status::kNeedMore) break;
      const auto& q = p.request();
      r.requests.push_back({q.method, std::string(q.target), q.keep_alive, q.http_minor, q.upgrade});
      if (!q.keep_alive) return r;
    }
    pos += n;
  }
  return r;
}
// Feeds one request to p whole, or a byte at a time until it is complete; returns the last status.
RequestParser::Status feedOne(RequestParser& p, const std::string& in, bool bytewise) {
  RequestParser::Status st = RequestParser::Status::kNeedMore;
  size_t used = 0;
  if (!bytewise) return p.parse(in.data(), in.size(), used);
  for (size_t i = 0; i < in.size() && st == RequestParser::Status::kNeedMore; ++i) st = p.parse(in.data() + i, 1, used);
  return st;
}
}  // namespace

TEST_CASE("a GET request, whole and byte by byte") {
  std::string in = "GET /foo%20bar HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    CAPTURE(step);
    Result r = parse(in, step);
    REQUIRE(r.error == 0);
    REQUIRE(r.requests.size() == 1);
    CHECK(r.requests[0].method == Method::kGet);
    CHECK(r.requests[0].target == "/foo%20bar");
    CHECK(r.requests[0].keep_alive);
    CHECK(r.requests[0].minor == 1);
  }
}

TEST_CASE("pipelined requests come out one at a time, in order") {
  std::string in;
  for (int i = 0; i < 20; ++i) in += "GET /k" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  in += "HEAD /last HTTP/1.1\r\nHost: x\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{13}}) {
    Result r = parse(in, step);
    REQUIRE(r.requests.size() == 21);
    for (int i = 0; i < 20; ++i) CHECK(r.requests[static_cast<size_t>(i)].target == "/k" + std::to_string(i));
    CHECK(r.requests[20].method == Method::kHead);
  }
}

TEST_CASE("keep-alive follows HTTP/1.0, HTTP/1.1 and Connection") {
  CHECK_FALSE(parse("GET /a HTTP/1.0\r\n\r\n", 0).requests.at(0).keep_alive);
  CHECK(parse("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0).requests.at(0).keep_alive);
  CHECK_FALSE(parse("GET /a HTTP/1.1\r\nConnection: close\r\n\r\n", 0).requests.at(0).keep_alive);
  CHECK(parse("GET /a HTTP/1.1\r\n\r\n", 0).requests.at(0).keep_alive);
}

TEST_CASE("a GET with a body is parsed past its body") {
  Result r = parse("GET /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n", 1);
  REQUIRE(r.requests.size() == 2);
  CHECK(r.requests[1].target == "/b");
}

TEST_CASE("other methods are reported as such") {
  Result r = parse("POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\nDELETE /b HTTP/1.1\r\n\r\n", 0);
  REQUIRE(r.requests.size() == 2);
  CHECK(r.requests[0].method == Method::kOther);
  CHECK(r.requests[1].method == Method::kOther);
}

TEST_CASE("upgrade and CONNECT end the HTTP stream") {
  Result r = parse("GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0);
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].upgrade);
  CHECK_FALSE(r.requests[0].keep_alive);
}

TEST_CASE("malformed requests and limits") {
  rcp::http::RequestLimits l;
  l.max_url_bytes = 64;
  l.max_header_bytes = 128;
  struct Case {
    std::string in;
    int status;
  };
  std::vector<Case> cases = {
      {"GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"GET /a HTTP/1.1\r\nX: " + std::string(200, 'b') + "\r\n\r\n", 431},
      {"GET /a HTTP/1.1\r\n" + std::string(20, 'X') + ": 1\r\n" + std::string(120, 'Y') + ": 2\r\n\r\n", 431},
      {"GET /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nBad Header\r\n\r\n", 400},
      {"G@T /a HTTP/1.1\r\n\r\n", 400},
      {"GET /a HTTP/3.1\r\n\r\n", 505},
      {"GET /a HTTX/1.1\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
      {"GET /a HTTP/1.1\r\n: v\r\n\r\n", 400},  // a header line with no name
      {"GET /a HTTP/1.1\r\nHost: x\r\n:\r\n\r\n", 400},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
  };
  for (const auto& c : cases) {
    for (size_t step : {size_t{0}, size_t{1}}) {
      CAPTURE(c.in);
      CAPTURE(step);
      CHECK(parse(c.in, step, l).error == c.status);
    }
  }
}

TEST_CASE("percent-decoding") {
  std::string out;
  CHECK(rcp::http::percentDecode("a%20b", out));
  CHECK(out == "a b");
  CHECK(rcp::http::percentDecode("%2F%2f%00x", out));
  CHECK(out == std::string("//\0x", 4));
  CHECK(rcp::http::percentDecode("%E2%82%AC", out));
  CHECK(out == "\xE2\x82\xAC");
  CHECK(rcp::http::percentDecode("a+b", out));
  CHECK(out == "a+b");
  CHECK_FALSE(rcp::http::percentDecode("%G1", out));
  CHECK_FALSE(rcp::http::percentDecode("%4", out));
  CHECK_FALSE(rcp::http::percentDecode("abc%", out));
}

TEST_CASE("key from request-target") {
  using rcp::http::KeyError;
  std::string key;
  CHECK(rcp::http::keyFromTarget("/user%3A1", key) == KeyError::kNone);
  CHECK(key == "user:1");
  CHECK(rcp::http::keyFromTarget("/a/b?x=1", key) == KeyError::kNone);
  CHECK(key == "a/b");
  CHECK(rcp::http::keyFromTarget("http://host:1/k%3F", key) == KeyError::kNone);
  CHECK(key == "k?");
  // Absolute form (RFC 3986): the scheme in any case; the authority ends at '/', '?' or '#'.
  CHECK(rcp::http::keyFromTarget("HTTP://h/a", key) == KeyError::kNone);
  CHECK(key == "a");
  CHECK(rcp::http::keyFromTarget("hTTpS://h:8/a%20b?q", key) == KeyError::kNone);
  CHECK(key == "a b");
  CHECK(rcp::http::keyFromTarget("http://h?/b", key) == KeyError::kEmpty);  // "/b" is the query
  CHECK(rcp::http::keyFromTarget("http://h#/b", key) == KeyError::kEmpty);
  CHECK(rcp::http::keyFromTarget("http://h", key) == KeyError::kEmpty);
  CHECK(rcp::http::keyFromTarget("httpx://h/a", key) == KeyError::kBadTarget);
  CHECK(rcp::http::keyFromTarget("/", key) == KeyError::kEmpty);
  CHECK(rcp::http::keyFromTarget("*", key) == KeyError::kBadTarget);
  CHECK(rcp::http::keyFromTarget("/%zz", key) == KeyError::kBadEscape);
}

TEST_CASE("response heads") {
  std::string h;
  rcp::http::ResponseOptions opt;
  rcp::http::appendHead(h, 200, 5, "Fri, 27 Nov 2026 12:00:00 GMT", opt);
  CHECK(h ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n"
        "Date: Fri, 27 Nov 2026 12:00:00 GMT\r\n\r\n");
  h.clear();
  opt.keep_alive = false;
  opt.extra_headers = "Allow: GET, HEAD\r\n";
  rcp::http::appendHead(h, 405, 0, "D", opt);
  CHECK(h.find("HTTP/1.1 405 Method Not Allowed\r\n") == 0);
  CHECK(h.find("Connection: close\r\n") != std::string::npos);
  CHECK(h.find("Allow: GET, HEAD\r\n") != std::string::npos);
  h.clear();
  opt = {};
  opt.http10 = true;
  rcp::http::appendHead(h, 404, 0, "D", opt);
  CHECK(h.find("Connection: keep-alive\r\n") != std::string::npos);
}

TEST_CASE("Date header is an IMF-fixdate") {
  rcp::http::DateCache d;
  CHECK(d.get(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(d.get(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("the Host header is captured and counted, whole and byte by byte") {
  struct Case {
    std::string in;
    int count;
    std::string host;
  };
  std::vector<Case> cases = {
      {"GET /a HTTP/1.1\r\nHost: example.com:80\r\n\r\n", 1, "example.com:80"},
      {"GET /a HTTP/1.1\r\nhOsT:localhost\r\n\r\n", 1, "localhost"},
      {"GET /a HTTP/1.1\r\nX-Host: a\r\nHostile: b\r\nHos: c\r\n\r\n", 0, ""},
      {"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 2, "a"},
      {"GET /a HTTP/1.0\r\n\r\n", 0, ""},
      {"GET /a HTTP/1.1\r\nHost:\r\n\r\n", 1, ""},
  };
  for (const auto& c : cases) {
    for (bool bytewise : {false, true}) {
      CAPTURE(c.in);
      CAPTURE(bytewise);
      rcp::http::RequestParser p;
      REQUIRE(feedOne(p, c.in, bytewise) == rcp::http::RequestParser::Status::kRequest);
      CHECK(p.request().host_count == c.count);
      CHECK(p.request().host == c.host);
    }
  }
}

TEST_CASE("Host allow-list: as listed, any case, surrounding whitespace ignored, * for all") {
  std::vector<std::string> allowed = {"localhost", "localhost:6380", "127.0.0.1", "127.0.0.1:6380", "[::1]",
                                      "[::1]:6380"};
  using rcp::http::hostAllowed;
  CHECK(hostAllowed("localhost", allowed));
  CHECK(hostAllowed("LocalHost:6380", allowed));
  CHECK(hostAllowed(" 127.0.0.1:6380 ", allowed));
  CHECK(hostAllowed("[::1]:6380", allowed));
  CHECK_FALSE(hostAllowed("localhost:6381", allowed));  // another port
  CHECK_FALSE(hostAllowed("localhost:", allowed));
  CHECK_FALSE(hostAllowed("evil.example", allowed));
  CHECK_FALSE(hostAllowed("localhost.evil.example", allowed));
  CHECK_FALSE(hostAllowed("", allowed));
  std::vector<std::string> any = {"*"};
  CHECK(hostAllowed("anything:1", any));
  CHECK(hostAllowed("", any));
}

TEST_CASE("Expect: 100-continue ends the request at its headers, which then closes the connection") {
  for (bool bytewise : {false, true}) {
    std::string in = "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nEXPECT: 100-Continue\r\n\r\n";
    rcp::http::RequestParser p;
    auto st = rcp::http::RequestParser::Status::kNeedMore;
    size_t used = 0;
    if (bytewise) {
      for (size_t i = 0; i < in.size() && st == rcp::http::RequestParser::Status::kNeedMore; ++i)
        st = p.parse(in.data() + i, 1, used);
    } else {
      st = p.parse(in.data(), in.size(), used);
    }
    REQUIRE(st == rcp::http::RequestParser::Status::kRequest);  // no body waited for
    CHECK(p.request().expect_continue);
    CHECK_FALSE(p.request().keep_alive);
  }
  rcp::http::RequestParser q;
  size_t used = 0;
  std::string other = "GET /a HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\n";
  REQUIRE(q.parse(other.data(), other.size(), used) == rcp::http::RequestParser::Status::kRequest);
  CHECK_FALSE(q.request().expect_continue);
  CHECK(q.request().keep_alive);
}

TEST_CASE("If-None-Match is captured, its lines joined by commas, whole and byte by byte") {
  struct Case {
    std::string in;
    bool has;
    std::string value;
  };
  std::vector<Case> cases = {
      {"GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\n\r\n", true, "\"x\""},
      {"GET /a HTTP/1.1\r\nif-none-match: W/\"a\", \"b\"\r\nHost: h\r\nIF-NONE-MATCH: *\r\n\r\n", true,
       "W/\"a\", \"b\",*"},
      {"GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Matches: \"x\"\r\nIf-Match: \"y\"\r\n\r\n", false, ""},
      {"GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match:\r\n\r\n", true, ""},
  };
  for (const auto& c : cases) {
    for (bool bytewise : {false, true}) {
      CAPTURE(c.in);
      CAPTURE(bytewise);
      rcp::http::RequestParser p;
      REQUIRE(feedOne(p, c.in, bytewise) == rcp::http::RequestParser::Status::kRequest);
      CHECK(p.request().has_if_none_match == c.has);
      CHECK(p.request().if_none_match == c.value);
    }
  }
  // the next request on the connection starts with none
  rcp::http::RequestParser p;
  std::string two = "GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  size_t used = 0;
  REQUIRE(p.parse(two.data(), two.size(), used) == rcp::http::RequestParser::Status::kRequest);
  CHECK(p.request().has_if_none_match);
  size_t first = used;
  REQUIRE(p.parse(two.data() + first, two.size() - first, used) == rcp::http::RequestParser::Status::kRequest);
  CHECK_FALSE(p.request().has_if_none_match);
  CHECK(p.request().if_none_match.empty());
}

TEST_CASE("entity tags: format, and If-None-Match's weak comparison") {
  char tag[rcp::http::kEtagBytes];
  rcp::http::formatEtag(tag, 0x0123456789abcdefULL);
  std::string_view t(tag, sizeof tag);
  CHECK(t == "\"0123456789abcdef\"");
  using rcp::http::noneMatch;
  CHECK(noneMatch("\"0123456789abcdef\"", t));
  CHECK(noneMatch("W/\"0123456789abcdef\"", t));                     // weak comparison
  CHECK(noneMatch("\"other\", W/\"0123456789abcdef\" ,\"x\"", t));   // a list, with OWS
  CHECK(noneMatch(" * ", t));
  CHECK(noneMatch("\"0123456789abcdef\"", "W/\"0123456789abcdef\""));
  CHECK_FALSE(noneMatch("\"0123456789abcdee\"", t));
  CHECK_FALSE(noneMatch("", t));
  CHECK_FALSE(noneMatch("0123456789abcdef", t));                      // not quoted
  CHECK_FALSE(noneMatch("\"0123456789abcdef", t));                    // unterminated
  CHECK_FALSE(noneMatch("\"x\" junk \"0123456789abcdef\"", t));      // malformed before it
  CHECK_FALSE(noneMatch("*, \"x\"", t));                              // "*" only alone
  std::string h;
  rcp::http::appendValidatorHeaders(h, t, -1, -1);
  CHECK(h == "ETag: \"0123456789abcdef\"\r\nCache-Control: no-cache\r\n");
  h.clear();
  rcp::http::appendValidatorHeaders(h, t, 30, 4);
  CHECK(h == "ETag: \"0123456789abcdef\"\r\nCache-Control: max-age=30\r\nAge: 4\r\n");
}

TEST_CASE("a 304 head has no Content-Type nor Content-Length") {
  std::string head;
  rcp::http::ResponseOptions opt;
  opt.no_content = true;
  opt.extra_headers = "ETag: \"x\"\r\n";
  rcp::http::appendHead(head, 304, 0, "Thu, 01 Jan 2026 00:00:00 GMT", opt);
  CHECK(head == "HTTP/1.1 304 Not Modified\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nETag: \"x\"\r\n\r\n");
}
