// The RESP commands the proxy answers itself (PING, ECHO, QUIT, HELLO, CLIENT, SELECT, COMMAND,
// INFO, CONFIG GET), about the client's own connection to the proxy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/commands.h"

namespace rcp::client {

class ClientHost;

// The connection a local command is about.
struct LocalClient {
  uint64_t id;          // CLIENT ID, HELLO's id
  std::string& name;    // CLIENT SETNAME / GETNAME, HELLO SETNAME
  bool quit = false;    // set by QUIT: close after the reply
};

// Runs spec (a command with kRouteLocal, arity already checked) and appends its RESP reply to out.
void runLocalCommand(const resp::CommandSpec& spec, const std::vector<std::string_view>& args, LocalClient& client,
                     ClientHost& host, std::string& out);

}  // namespace rcp::client
