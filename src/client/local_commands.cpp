// Commands answered by the proxy itself (see local_commands.h).
#include "src/client/local_commands.h"

#include <charconv>

#include "resp/reply.h"

namespace rcp::client {

namespace {
using Args = std::vector<std::string_view>;
using resp::equalsIgnoreCase;

constexpr std::string_view kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";
constexpr std::string_view kHelloNoAuth =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> "
    "<pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

// A client name as Redis accepts it (CLIENT SETNAME, HELLO SETNAME): printable, no spaces.
bool validClientName(std::string_view name, std::string& out) {
  for (char c : name) {
    if (c < '!' || c > '~') {
      resp::appendError(out, "ERR Client names cannot contain spaces, newlines or special characters.");
      return false;
    }
  }
  return true;
}

bool constantTimeEqual(std::string_view a, std::string_view b) noexcept {
  // Every byte of the longer one is looked at whatever matches, so timing tells nothing but length.
  size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

void auth(const Args& args, LocalClient& client, const LocalEnv& env, std::string& o) {
  if (args.size() < 2) {
    resp::appendError(o, "ERR wrong number of arguments for 'auth' command");
    return;
  }
  if (args.size() > 3) {
    resp::appendError(o, "ERR syntax error");
    return;
  }
  if (args.size() == 2 && env.config.requirepass.empty()) {
    resp::appendError(o, "ERR AUTH <password> called without any password configured for the default user. "
                         "Are you sure your configuration is correct?");
    return;
  }
  std::string_view user = args.size() == 3 ? args[1] : std::string_view("default");
  if (!credentialsOk(env.config, user, args.back())) {
    resp::appendError(o, kWrongPass);
    return;
  }
  client.authed = true;
  resp::appendSimple(o, "OK");
}

void hello(const Args& args, LocalClient& client, const LocalEnv& env, std::string& o) {
  int proto = client.proto;
  if (args.size() >= 2) {
    long long ver = 0;
    auto [p, ec] = std::from_chars(args[1].data(), args[1].data() + args[1].size(), ver);
    if (ec != std::errc() || p != args[1].data() + args[1].size()) {
      resp::appendError(o, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (ver < 2 || ver > 3 || (ver == 3 && !env.resp3)) {
      resp::appendError(o, "NOPROTO unsupported protocol version");
      return;
    }
    proto = static_cast<int>(ver);
    // Options are checked before any is applied, as Redis does: a refused HELLO changes nothing.
    std::string_view name;
    bool set_name = false, auth_ok = false;
    for (size_t i = 2; i < args.size(); ++i) {
      if (equalsIgnoreCase(args[i], "SETNAME") && i + 1 < args.size()) {
        name = args[++i];
        set_name = true;
        if (!validClientName(name, o)) return;
      } else if (equalsIgnoreCase(args[i], "AUTH") && i + 2 < args.size()) {
        if (!credentialsOk(env.config, args[i + 1], args[i + 2])) {
          resp::appendError(o, kWrongPass);
          return;
        }
        auth_ok = true;
        i += 2;
      } else {
        resp::appendError(o, "ERR Syntax error in HELLO option '" + resp::oneLine(args[i].substr(0, 64)) + "'");
        return;
      }
    }
    if (!client.authed && !auth_ok) {
      resp::appendError(o, kHelloNoAuth);
      return;
    }
    if (auth_ok) client.authed = true;
    if (set_name) client.name.assign(name);
  } else if (!client.authed) {
    resp::appendError(o, kHelloNoAuth);
    return;
  }
  client.proto = proto;
  resp::appendMapHeader(o, 7, proto);
  resp::appendBulk(o, "server");  resp::appendBulk(o, "redis");
  resp::appendBulk(o, "version"); resp::appendBulk(o, env.backend_version);
  resp::appendBulk(o, "proto");   resp::appendInteger(o, proto);
  resp::appendBulk(o, "id");      resp::appendInteger(o, static_cast<long long>(client.id));
  resp::appendBulk(o, "mode");    resp::appendBulk(o, "standalone");
  resp::appendBulk(o, "role");    resp::appendBulk(o, "master");
  resp::appendBulk(o, "modules"); resp::appendArrayHeader(o, 0);
}

void clientCommand(const Args& args, LocalClient& client, std::string& o) {
  std::string_view sub = args[1];
  if (equalsIgnoreCase(sub, "SETNAME") && args.size() == 3) {
    if (!validClientName(args[2], o)) return;
    client.name.assign(args[2]);
    resp::appendSimple(o, "OK");
  } else if (equalsIgnoreCase(sub, "GETNAME") && args.size() == 2) {
    if (client.name.empty()) resp::appendNull(o, client.proto);
    else resp::appendBulk(o, client.name);
  } else if (equalsIgnoreCase(sub, "SETINFO") && args.size() == 4) {
    bool name = equalsIgnoreCase(args[2], "LIB-NAME");
    if (!name && !equalsIgnoreCase(args[2], "LIB-VER")) {
      resp::appendError(o, "ERR Unrecognized option '" + resp::oneLine(args[2].substr(0, 64)) + "'");
      return;
    }
    for (char c : args[3]) {
      if (c < '!' || c > '~') {
        resp::appendError(o, "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.");
        return;
      }
    }
    (name ? client.lib_name : client.lib_ver).assign(args[3]);
    resp::appendSimple(o, "OK");
  } else if (equalsIgnoreCase(sub, "ID") && args.size() == 2) {
    resp::appendInteger(o, static_cast<long long>(client.id));
  } else if ((equalsIgnoreCase(sub, "NO-EVICT") || equalsIgnoreCase(sub, "NO-TOUCH")) && args.size() == 3) {
    if (!equalsIgnoreCase(args[2], "ON") && !equalsIgnoreCase(args[2], "OFF")) {
      resp::appendError(o, "ERR syntax error");
      return;
    }
    resp::appendSimple(o, "OK");
  } else {
    resp::appendError(o, "ERR unknown subcommand or wrong number of arguments for '" +
                             resp::oneLine(sub.substr(0, 64)) + "'");
  }
}
}  // namespace

bool credentialsOk(const Config& config, std::string_view user, std::string_view password) noexcept {
  bool default_user = user == "default";
  if (config.requirepass.empty()) return default_user;
  return constantTimeEqual(password, config.requirepass) & default_user;
}

bool isLocal(resp::Cmd cmd, const Args& args) noexcept {
  switch (cmd) {
    case resp::Cmd::kPing:
    case resp::Cmd::kEcho:
    case resp::Cmd::kQuit:
    case resp::Cmd::kHello:
    case resp::Cmd::kAuth: return true;
    case resp::Cmd::kClient: {
      if (args.size() < 2) return false;
      for (std::string_view s : {"SETNAME", "GETNAME", "ID", "SETINFO", "NO-EVICT", "NO-TOUCH"})
        if (equalsIgnoreCase(args[1], s)) return true;
      return false;
    }
    default: return false;
  }
}

void runLocalCommand(resp::Cmd cmd, const Args& args, LocalClient& client, const LocalEnv& env, std::string& out) {
  switch (cmd) {
    case resp::Cmd::kPing:
      if (args.size() == 1) resp::appendSimple(out, "PONG");
      else if (args.size() == 2) resp::appendBulk(out, args[1]);
      else resp::appendError(out, "ERR wrong number of arguments for 'ping' command");
      return;
    case resp::Cmd::kEcho:
      if (args.size() == 2) resp::appendBulk(out, args[1]);
      else resp::appendError(out, "ERR wrong number of arguments for 'echo' command");
      return;
    case resp::Cmd::kQuit:
      resp::appendSimple(out, "OK");
      client.quit = true;
      return;
    case resp::Cmd::kHello: hello(args, client, env, out); return;
    case resp::Cmd::kAuth: auth(args, client, env, out); return;
    case resp::Cmd::kClient: clientCommand(args, client, out); return;
    default: break;
  }
  resp::appendError(out, "ERR internal: the command is not answered locally");
}

}  // namespace rcp::client
