// Commands answered by the proxy itself (see local_commands.h).
#include "src/client/local_commands.h"

#include <charconv>

#include "resp/reply.h"
#include "src/client/clients.h"

namespace rcp::client {

namespace {
using Args = std::vector<std::string_view>;

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

void hello(const Args& args, LocalClient& client, std::string& o) {
  if (args.size() >= 2) {
    long long ver = 0;
    auto [p, ec] = std::from_chars(args[1].data(), args[1].data() + args[1].size(), ver);
    if (ec != std::errc() || p != args[1].data() + args[1].size() || ver < 2) {
      resp::appendError(o, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (ver != 2) {
      resp::appendError(o, "NOPROTO sorry, this protocol version is not supported");
      return;
    }
    // Options are checked before any is applied, as Redis does: a refused HELLO changes nothing.
    std::string_view name;
    bool set_name = false;
    for (size_t i = 2; i < args.size(); ++i) {
      if (resp::equalsIgnoreCase(args[i], "SETNAME") && i + 1 < args.size()) {
        name = args[++i];
        set_name = true;
        if (!validClientName(name, o)) return;
      } else if (resp::equalsIgnoreCase(args[i], "AUTH") && i + 2 < args.size()) {
        i += 2;  // the proxy has no users of its own: accepted as Redis does without requirepass
      } else {
        resp::appendError(o, "ERR Syntax error in HELLO option '" + resp::oneLine(args[i].substr(0, 64)) + "'");
        return;
      }
    }
    if (set_name) client.name.assign(name);
  }
  resp::appendArrayHeader(o, 14);
  resp::appendBulk(o, "server");  resp::appendBulk(o, "redis-cache-proxy");
  resp::appendBulk(o, "version"); resp::appendBulk(o, RCP_VERSION);
  resp::appendBulk(o, "proto");   resp::appendInteger(o, 2);
  resp::appendBulk(o, "id");      resp::appendInteger(o, static_cast<long long>(client.id));
  resp::appendBulk(o, "mode");    resp::appendBulk(o, "standalone");
  resp::appendBulk(o, "role");    resp::appendBulk(o, "master");
  resp::appendBulk(o, "modules"); resp::appendArrayHeader(o, 0);
}

void clientCommand(const Args& args, LocalClient& client, std::string& o) {
  std::string_view sub = args[1];
  if (resp::equalsIgnoreCase(sub, "SETNAME") && args.size() == 3) {
    if (!validClientName(args[2], o)) return;
    client.name.assign(args[2]);
    resp::appendSimple(o, "OK");
  } else if (resp::equalsIgnoreCase(sub, "GETNAME") && args.size() == 2) {
    if (client.name.empty()) resp::appendNil(o);
    else resp::appendBulk(o, client.name);
  } else if (resp::equalsIgnoreCase(sub, "SETINFO") && args.size() == 4) {
    resp::appendSimple(o, "OK");
  } else if (resp::equalsIgnoreCase(sub, "ID") && args.size() == 2) {
    resp::appendInteger(o, static_cast<long long>(client.id));
  } else {
    resp::appendError(o, "ERR unknown subcommand or wrong number of arguments for '" + resp::oneLine(sub.substr(0, 64)) +
                             "'. The proxy supports CLIENT SETNAME, GETNAME, SETINFO, ID");
  }
}

void command(const Args& args, std::string& o) {
  auto all = resp::allCommands();
  if (args.size() == 1) {
    resp::appendArrayHeader(o, static_cast<long long>(all.size()));
    for (const auto& c : all) resp::appendCommandEntry(o, c);
  } else if (resp::equalsIgnoreCase(args[1], "COUNT")) {
    resp::appendInteger(o, static_cast<long long>(all.size()));
  } else if (resp::equalsIgnoreCase(args[1], "DOCS")) {
    resp::appendArrayHeader(o, 0);  // no docs: clients fall back to their built-in help
  } else if (resp::equalsIgnoreCase(args[1], "INFO")) {
    resp::appendArrayHeader(o, static_cast<long long>(args.size() - 2));
    for (size_t i = 2; i < args.size(); ++i) {
      const resp::CommandSpec* c = resp::lookupCommand(args[i]);
      if (c != nullptr) resp::appendCommandEntry(o, *c);
      else resp::appendNil(o);
    }
  } else {
    resp::appendError(o, "ERR unknown subcommand '" + resp::oneLine(args[1].substr(0, 64)) +
                             "'. The proxy supports COMMAND, COMMAND COUNT, COMMAND DOCS, COMMAND INFO");
  }
}
}  // namespace

void runLocalCommand(const resp::CommandSpec& spec, const Args& args, LocalClient& client, ClientHost& host,
                     std::string& out) {
  switch (spec.cmd) {
    case resp::Cmd::kPing:
      if (args.size() == 1) resp::appendSimple(out, "PONG");
      else if (args.size() == 2) resp::appendBulk(out, args[1]);
      else resp::appendError(out, "ERR wrong number of arguments for 'ping' command");
      return;
    case resp::Cmd::kEcho: resp::appendBulk(out, args[1]); return;
    case resp::Cmd::kQuit:
      resp::appendSimple(out, "OK");
      client.quit = true;
      return;
    case resp::Cmd::kHello: hello(args, client, out); return;
    case resp::Cmd::kClient: clientCommand(args, client, out); return;
    case resp::Cmd::kSelect:
      if (args[1] == "0") resp::appendSimple(out, "OK");
      else resp::appendError(out, "ERR DB index is out of range (the proxy serves the database of --redis as 0)");
      return;
    case resp::Cmd::kCommand: command(args, out); return;
    case resp::Cmd::kInfo: resp::appendBulk(out, host.info(args.size() > 1 ? args[1] : std::string_view("default"))); return;
    case resp::Cmd::kConfig:
      // Tools such as redis-benchmark read settings at start-up; the proxy has no Redis settings
      // to report, so CONFIG GET answers an empty list and anything else is refused.
      if (resp::equalsIgnoreCase(args[1], "GET") && args.size() >= 3) resp::appendArrayHeader(out, 0);
      else resp::appendError(out, "ERR the proxy supports CONFIG GET only (and reports nothing)");
      return;
    case resp::Cmd::kGet:
    case resp::Cmd::kUnknown: break;
  }
  resp::appendError(out, "ERR internal: '" + std::string(spec.name) + "' is not answered locally");
}

}  // namespace rcp::client
