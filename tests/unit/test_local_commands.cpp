// Commands the proxy answers itself, on paths a real Redis 7 backend cannot show: HELLO 3 in front
// of a backend older than Redis 6 (no RESP3) is refused as such a Redis refuses it, and changes nothing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/base/config.h"
#include "src/client/local_commands.h"

TEST_CASE("local commands: HELLO 3 is refused when the backend has no RESP3, HELLO 2 still answers") {
  rcp::Config config;
  std::string name, lib, ver;
  bool authed = true;
  int proto = 2;
  rcp::client::LocalClient client{7, name, lib, ver, authed, proto};
  std::vector<std::string_view> hello3 = {"HELLO", "3"}, hello2 = {"HELLO", "2"};
  std::string out;
  rcp::client::runLocalCommand(rcp::resp::Cmd::kHello, hello3, client,
                               rcp::client::LocalEnv{config, "5.0.14", false}, out);
  CHECK(out == "-NOPROTO unsupported protocol version\r\n");
  CHECK(proto == 2);
  out.clear();
  rcp::client::runLocalCommand(rcp::resp::Cmd::kHello, hello2, client,
                               rcp::client::LocalEnv{config, "5.0.14", false}, out);
  CHECK(out.starts_with("*14\r\n"));
  CHECK(out.find("$6\r\n5.0.14\r\n") != std::string::npos);
  out.clear();
  rcp::client::runLocalCommand(rcp::resp::Cmd::kHello, hello3, client,
                               rcp::client::LocalEnv{config, "7.0.15", true}, out);
  CHECK(out.starts_with("%7\r\n"));
  CHECK(proto == 3);
}
