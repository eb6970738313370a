// CLIENT LIST and CLIENT KILL over a directory of clients, without sockets: each filter, the two
// forms of KILL, the caller closed last and only when SKIPME no says so, Redis's replies.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/client/client_registry.h"

using rcp::client::ClientInfo;

namespace {
struct Directory final : rcp::client::ClientDirectory {
  std::vector<ClientInfo> all;
  std::vector<uint64_t> killed;
  std::vector<ClientInfo> clients() override { return all; }
  void kill(const std::vector<uint64_t>& ids, uint64_t) override { killed.insert(killed.end(), ids.begin(), ids.end()); }
  bool blocked(uint64_t, long long*, int32_t*) override { return false; }
};

ClientInfo client(uint64_t id, std::string addr, bool pubsub = false, uint64_t age = 0) {
  ClientInfo c;
  c.id = id;
  c.addr = std::move(addr);
  c.laddr = "127.0.0.1:6380";
  c.pubsub = pubsub;
  c.flags = pubsub ? "P" : "N";
  c.age_s = age;
  return c;
}

std::string kill(Directory& d, std::vector<std::string_view> args, uint64_t self = 1) {
  std::string out;
  rcp::client::clientKill(args, d.all[self - 1], d, out);
  return out;
}
}  // namespace

TEST_CASE("client registry: a line in Redis's field order, cmd and flags as known") {
  ClientInfo c = client(7, "10.0.0.1:5000");
  c.name = "web";
  c.cmd = "client|list";
  c.resp = 3;
  std::string line = rcp::client::clientLine(c);
  CHECK(line.starts_with("id=7 addr=10.0.0.1:5000 laddr=127.0.0.1:6380 fd=-1 name=web age=0 idle=0 flags=N db=0 "
                         "sub=0 psub=0 ssub=0 multi=-1 qbuf=0"));
  CHECK(line.find(" cmd=client|list user=default redir=-1 resp=3 lib-name= lib-ver=\n") != std::string::npos);
  c.http = true;
  CHECK(rcp::client::clientLine(c).find(" cmd=http ") != std::string::npos);
  c.flags = "x";
  CHECK(rcp::client::clientLine(c).find(" multi=0 ") != std::string::npos);
}

TEST_CASE("client registry: CLIENT LIST filters and errors") {
  Directory d;
  d.all = {client(1, "a:1"), client(2, "b:2", true), client(3, "c:3")};
  std::string out;
  rcp::client::clientList({"CLIENT", "LIST", "TYPE", "pubsub"}, d, 2, out);
  CHECK(out.find("id=2 ") != std::string::npos);
  CHECK(out.find("id=1 ") == std::string::npos);
  out.clear();
  rcp::client::clientList({"CLIENT", "LIST", "ID", "3", "1", "42"}, d, 2, out);
  CHECK(out.find("id=3 ") < out.find("id=1 "));  // in the order asked
  out.clear();
  rcp::client::clientList({"CLIENT", "LIST", "TYPE", "nope"}, d, 2, out);
  CHECK(out == "-ERR Unknown client type 'nope'\r\n");
  out.clear();
  rcp::client::clientList({"CLIENT", "LIST", "ID", "1x"}, d, 2, out);
  CHECK(out == "-ERR Invalid client ID\r\n");
  out.clear();
  rcp::client::clientList({"CLIENT", "LIST", "ID"}, d, 2, out);
  CHECK(out == "-ERR syntax error\r\n");
  out.clear();
  rcp::client::clientList({"CLIENT", "LIST"}, d, 3, out);
  CHECK(out.starts_with("="));  // verbatim to RESP3
}

TEST_CASE("client registry: CLIENT KILL, old and new forms, the caller last") {
  Directory d;
  d.all = {client(1, "me:1"), client(2, "b:2", true, 10), client(3, "c:3", false, 100)};
  CHECK(kill(d, {"CLIENT", "KILL", "c:3"}) == "+OK\r\n");
  CHECK(d.killed == std::vector<uint64_t>{3});
  CHECK(kill(d, {"CLIENT", "KILL", "z:9"}) == "-ERR No such client\r\n");
  d.killed.clear();
  CHECK(kill(d, {"CLIENT", "KILL", "TYPE", "pubsub"}) == ":1\r\n");
  CHECK(d.killed == std::vector<uint64_t>{2});
  d.killed.clear();
  CHECK(kill(d, {"CLIENT", "KILL", "MAXAGE", "50"}) == ":1\r\n");  // only the one connected 100 s ago
  CHECK(d.killed == std::vector<uint64_t>{3});
  d.killed.clear();
  CHECK(kill(d, {"CLIENT", "KILL", "LADDR", "127.0.0.1:6380"}) == ":2\r\n");  // SKIPME yes: not the caller
  CHECK(d.killed == std::vector<uint64_t>{2, 3});
  d.killed.clear();
  CHECK(kill(d, {"CLIENT", "KILL", "LADDR", "127.0.0.1:6380", "SKIPME", "no"}) == ":3\r\n");
  CHECK(d.killed == std::vector<uint64_t>{2, 3, 1});  // the caller last
  d.killed.clear();
  CHECK(kill(d, {"CLIENT", "KILL", "ID", "2", "ADDR", "c:3"}) == ":0\r\n");  // filters combine
  CHECK(kill(d, {"CLIENT", "KILL", "USER", "default", "ID", "2"}) == ":1\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "ID", "0"}) == "-ERR client-id should be greater than 0\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "USER", "bob"}) == "-ERR No such user 'bob'\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "TYPE", "x"}) == "-ERR Unknown client type 'x'\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "SKIPME", "maybe"}) == "-ERR syntax error\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "ID", "2", "ADDR"}) == "-ERR syntax error\r\n");
  CHECK(kill(d, {"CLIENT", "KILL", "NOPE", "1"}) == "-ERR syntax error\r\n");
}

TEST_CASE("client registry: a MONITOR line names the proxy's client that owns the connection") {
  auto who = [](std::string_view a) { return a == "127.0.0.1:40000" ? std::string("10.1.2.3:5555") : std::string(); };
  CHECK(rcp::client::monitorLine("1700000000.123456 [0 127.0.0.1:40000] \"set\" \"k\" \"v\"", who) ==
        "1700000000.123456 [0 10.1.2.3:5555] \"set\" \"k\" \"v\"");
  // Not one of the pinned connections (a shared link), Lua, a Unix socket, IPv6, odd lines: as they came.
  for (std::string_view line : {"1700000000.1 [0 127.0.0.1:40001] \"get\" \"k\"", "1700000000.1 [0 lua] \"get\" \"k\"",
                                "1700000000.1 [3 unix:/tmp/r.sock] \"ping\"", "1700000000.1 [0 [::1]:40000] \"ping\"",
                                "OK", "1700000000.1 [0", "[0 127.0.0.1:40000]", ""})
    CHECK(rcp::client::monitorLine(line, who) == line);
}
