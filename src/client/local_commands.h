// The RESP commands the proxy answers itself, about the client's own connection to the proxy:
// PING, ECHO, QUIT, HELLO (2 or 3), AUTH, and CLIENT SETNAME / GETNAME / ID / INFO / LIST / SETINFO /
// NO-EVICT / NO-TOUCH (the rest of CLIENT is forwarded or refused by the session).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/commands.h"
#include "src/base/config.h"

namespace rcp::client {

// The connection a local command is about.
struct LocalClient {
  uint64_t id;               // CLIENT ID, HELLO's id
  std::string& name;         // CLIENT SETNAME / GETNAME, HELLO SETNAME
  std::string& lib_name;     // CLIENT SETINFO LIB-NAME
  std::string& lib_ver;      // CLIENT SETINFO LIB-VER
  bool& authed;              // AUTH / HELLO AUTH passed (always true without --requirepass)
  int& proto;                // the RESP version the client speaks (2, or 3 after HELLO 3): shapes every reply
  bool quit = false;         // set by QUIT: close after the reply
};

// What local commands read of the proxy.
struct LocalEnv {
  const Config& config;
  std::string_view backend_version;  // Redis's version, as HELLO reports it
  bool resp3 = true;                 // the backend speaks RESP3 (Redis 6 and later): HELLO 3 is accepted
};

// Whether command is one the proxy answers itself (CLIENT only for the subcommands above).
bool isLocal(resp::Cmd cmd, const std::vector<std::string_view>& args) noexcept;
// Runs a local command and appends its RESP reply to out.
void runLocalCommand(resp::Cmd cmd, const std::vector<std::string_view>& args, LocalClient& client,
                     const LocalEnv& env, std::string& out);
// user/password against --requirepass, in constant time: the default user (or no user name) with
// the configured password; without --requirepass, the default user with any password (as Redis's
// "nopass" default user).
bool credentialsOk(const Config& config, std::string_view user, std::string_view password) noexcept;

}  // namespace rcp::client
