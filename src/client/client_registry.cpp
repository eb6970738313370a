// CLIENT LIST and CLIENT KILL over every client of the proxy (see client_registry.h). Replies and
// errors are Redis 7's (networking.c: clientCommand, clientKillCommand).
#include "src/client/client_registry.h"

#include <ctime>

#include "resp/commands.h"
#include "resp/reply.h"

namespace rcp::client {

namespace {
using resp::equalsIgnoreCase;

// TYPE's names, as Redis reads them: 0 normal, 1 replica (slave), 2 master, 3 pubsub; -1 unknown.
int typeOf(std::string_view name) {
  if (equalsIgnoreCase(name, "normal")) return 0;
  if (equalsIgnoreCase(name, "slave") || equalsIgnoreCase(name, "replica")) return 1;
  if (equalsIgnoreCase(name, "master")) return 2;
  if (equalsIgnoreCase(name, "pubsub")) return 3;
  return -1;
}
int typeOf(const ClientInfo& c) { return c.pubsub ? 3 : 0; }

std::string unknownType(std::string_view name) {
  return "ERR Unknown client type '" + resp::oneLine(name.substr(0, 64)) + "'";
}
}  // namespace

std::string clientLine(const ClientInfo& c) {
  std::string s;
  s.reserve(320);
  s += "id=" + std::to_string(c.id) + " addr=" + c.addr + " laddr=" + c.laddr + " fd=-1 name=" + c.name;
  s += " age=" + std::to_string(c.age_s) + " idle=" + std::to_string(c.idle_s) + " flags=" + c.flags;
  s += " db=" + std::to_string(c.db) + " sub=" + std::to_string(c.sub) + " psub=0 ssub=" + std::to_string(c.ssub);
  s += std::string(" multi=") + (c.flags.find('x') != std::string::npos ? "0" : "-1");
  s += " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=";
  s += c.http ? std::string("http") : c.cmd;
  s += " user=default redir=" + std::to_string(c.redir) + " resp=" + std::to_string(c.resp) + " lib-name=" + c.lib_name + " lib-ver=" + c.lib_ver;
  s += "\n";
  return s;
}

std::string monitorLine(std::string_view line, const std::function<std::string(std::string_view)>& who) {
  size_t open = line.find(" [");
  size_t space = open == std::string_view::npos ? open : line.find(' ', open + 2);
  size_t close = space == std::string_view::npos ? space : line.find("] ", space + 1);
  if (close == std::string_view::npos) return std::string(line);
  std::string client = who(line.substr(space + 1, close - space - 1));
  if (client.empty()) return std::string(line);
  std::string out(line.substr(0, space + 1));
  out += client;
  out += line.substr(close);
  return out;
}

void clientList(const std::vector<std::string_view>& args, ClientDirectory& dir, int proto, std::string& out) {
  std::string text;
  if (args.size() == 2) {
    for (const ClientInfo& c : dir.clients()) text += clientLine(c);
  } else if (args.size() == 4 && equalsIgnoreCase(args[2], "TYPE")) {
    int type = typeOf(args[3]);
    if (type < 0) {
      resp::appendError(out, unknownType(args[3]));
      return;
    }
    for (const ClientInfo& c : dir.clients())
      if (typeOf(c) == type) text += clientLine(c);
  } else if (args.size() > 3 && equalsIgnoreCase(args[2], "ID")) {
    std::vector<ClientInfo> all = dir.clients();
    for (size_t i = 3; i < args.size(); ++i) {
      long long id = 0;
      if (!resp::parseInteger(args[i], &id)) {
        resp::appendError(out, "ERR Invalid client ID");
        return;
      }
      for (const ClientInfo& c : all)
        if (static_cast<long long>(c.id) == id) text += clientLine(c);
    }
  } else {
    resp::appendError(out, "ERR syntax error");
    return;
  }
  resp::appendVerbatim(out, text, proto);
}

void clientKill(const std::vector<std::string_view>& args, const ClientInfo& self, ClientDirectory& dir,
                std::string& out) {
  if (args.size() == 3) {  // the old form: CLIENT KILL ip:port
    for (const ClientInfo& c : dir.clients()) {
      if (c.addr != args[2]) continue;
      resp::appendSimple(out, "OK");
      dir.kill({c.id}, self.id);
      return;
    }
    resp::appendError(out, "ERR No such client");
    return;
  }
  long long id = 0, max_age = 0;
  int type = -1;
  std::string_view addr, laddr, user;
  bool skipme = true;
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) {
      resp::appendError(out, "ERR syntax error");
      return;
    }
    std::string_view opt = args[i], v = args[i + 1];
    if (equalsIgnoreCase(opt, "ID")) {
      if (!resp::parseInteger(v, &id) || id < 1) {
        resp::appendError(out, "ERR client-id should be greater than 0");
        return;
      }
    } else if (equalsIgnoreCase(opt, "TYPE")) {
      type = typeOf(v);
      if (type < 0) {
        resp::appendError(out, unknownType(v));
        return;
      }
    } else if (equalsIgnoreCase(opt, "ADDR")) {
      addr = v;
    } else if (equalsIgnoreCase(opt, "LADDR")) {
      laddr = v;
    } else if (equalsIgnoreCase(opt, "USER")) {
      if (v != "default") {  // the proxy's clients are all the default user (--requirepass)
        resp::appendError(out, "ERR No such user '" + resp::oneLine(v.substr(0, 64)) + "'");
        return;
      }
      user = v;
    } else if (equalsIgnoreCase(opt, "SKIPME")) {
      if (equalsIgnoreCase(v, "yes")) skipme = true;
      else if (equalsIgnoreCase(v, "no")) skipme = false;
      else {
        resp::appendError(out, "ERR syntax error");
        return;
      }
    } else if (equalsIgnoreCase(opt, "MAXAGE")) {
      if (!resp::parseInteger(v, &max_age)) {
        resp::appendError(out, "ERR syntax error");  // Redis 7.0's word for it
        return;
      }
    } else {
      resp::appendError(out, "ERR syntax error");
      return;
    }
  }
  std::vector<uint64_t> doomed;
  bool self_too = false;
  for (const ClientInfo& c : dir.clients()) {
    if (!addr.empty() && c.addr != addr) continue;
    if (!laddr.empty() && c.laddr != laddr) continue;
    if (type >= 0 && typeOf(c) != type) continue;
    if (id != 0 && static_cast<long long>(c.id) != id) continue;
    if (c.id == self.id && skipme) continue;
    if (max_age != 0 && static_cast<long long>(c.age_s) < max_age) continue;
    if (c.id == self.id) self_too = true;
    else doomed.push_back(c.id);
  }
  (void)user;  // every client is the default user: USER default matches them all
  resp::appendInteger(out, static_cast<long long>(doomed.size() + (self_too ? 1 : 0)));
  if (self_too) doomed.push_back(self.id);  // the caller last
  dir.kill(doomed, self.id);
}

}  // namespace rcp::client
