// RESP session (see resp_session.h).
#include "src/resp_session.h"

#include <algorithm>
#include <charconv>

#include "cache/lru_cache.h"
#include "resp/commands.h"
#include "resp/reply.h"
#include "src/connection.h"
#include "src/metrics.h"
#include "src/read_through.h"
#include "src/server.h"

namespace rcp {

namespace {
resp::RequestLimits limitsFrom(const Config& c) {
  resp::RequestLimits l;
  l.max_request_bytes = c.max_request_bytes;
  l.max_inline_bytes = std::min<size_t>(c.max_request_bytes, 64 << 10);
  return l;
}

std::string quoteArgs(const std::vector<std::string_view>& args) {
  std::string s;
  for (size_t i = 1; i < args.size() && s.size() < 128; ++i) {
    s += '\'';
    s.append(args[i].substr(0, 128));
    s += "' ";
  }
  return s;
}

void appendSpec(std::string& out, const resp::CommandSpec& c) {
  std::vector<std::string_view> flags;
  for (size_t p = 0; p < c.flags.size();) {
    size_t e = std::min(c.flags.find(' ', p), c.flags.size());
    flags.push_back(c.flags.substr(p, e - p));
    p = e + 1;
  }
  resp::appendArrayHeader(out, 6);
  resp::appendBulk(out, c.name);
  resp::appendInteger(out, c.arity);
  resp::appendArrayHeader(out, static_cast<long long>(flags.size()));
  for (std::string_view f : flags) resp::appendSimple(out, f);
  resp::appendInteger(out, c.first_key);
  resp::appendInteger(out, c.last_key);
  resp::appendInteger(out, c.key_step);
}
}  // namespace

RespSession::RespSession(Connection& conn) : conn_(conn), parser_(limitsFrom(conn.server().config())) {}

void RespSession::onData(const char* data, size_t len) {
  parser_.feed(data, len);
  run();
}

void RespSession::run() {
  while (conn_.canTakeRequest()) {
    if (prefetched_ == 0) prefetchAhead();
    else --prefetched_;
    auto st = parser_.next();
    if (st == resp::RequestParser::Status::kNeedMore) {
      prefetched_ = 0;  // the input is used up: the next batch starts with a look-ahead
      return;
    }
    if (st == resp::RequestParser::Status::kError) {
      ++conn_.server().stats().protocol_errors;
      resp::appendError(reply()->head, "ERR " + parser_.error());
      conn_.closeAfterWrite();
      return;
    }
    dispatch(parser_.args());
    conn_.requestQueued();
  }
}

// A pipelined batch of GETs over a cache bigger than the CPU's caches would wait on several misses
// per request (the bucket, the entry, its LRU neighbours), one after the other. Peeking at the
// requests behind the current one and prefetching for all of them at once overlaps those waits.
void RespSession::prefetchAhead() {
  LruCache& cache = conn_.server().cache();
  if (!cache.enabled()) return;
  std::string_view rest = parser_.unparsed();
  if (rest.size() < kMinBatchBytes) return;  // one request, or none: nothing to overlap
  std::string_view key;
  size_t len = resp::peekGet(rest, &key);
  if (len == 0 || len == rest.size()) return;  // not a GET, or a lone request: nothing to overlap
  uint64_t hashes[kPrefetchRequests];
  size_t n = 0;
  do {
    hashes[n++] = LruCache::hashKey(key);
    rest.remove_prefix(len);
  } while (n < kPrefetchRequests && (len = resp::peekGet(rest, &key)) != 0);
  cache.prefetch(hashes, n);
  prefetched_ = n - 1;  // the request about to be parsed is the first of them
}

Slot* RespSession::reply() {
  Slot* s = conn_.pushSlot();
  s->ready = true;
  return s;
}

void RespSession::dispatch(const std::vector<std::string_view>& args) {
  Server& server = conn_.server();
  ++server.stats().resp_requests;
  if (args.size() == 2 && resp::isGetName(args[0])) return get(args[1]);  // the hot path
  const resp::CommandSpec* spec = resp::lookupCommand(args[0]);
  if (spec == nullptr) {
    ++server.stats().unknown_commands;
    std::string msg = "ERR unknown command '" + resp::oneLine(args[0].substr(0, 128)) +
                      "', with args beginning with: " + resp::oneLine(quoteArgs(args));
    resp::appendError(reply()->head, msg);
    return;
  }
  if (!resp::arityOk(*spec, args.size())) {
    resp::appendError(reply()->head, "ERR wrong number of arguments for '" + std::string(spec->name) + "' command");
    return;
  }
  if (spec->cmd != resp::Cmd::kGet) ++server.stats().local_commands;
  switch (spec->cmd) {
    case resp::Cmd::kGet: return get(args[1]);
    case resp::Cmd::kPing:
      if (args.size() == 1) resp::appendSimple(reply()->head, "PONG");
      else if (args.size() == 2) resp::appendBulk(reply()->head, args[1]);
      else resp::appendError(reply()->head, "ERR wrong number of arguments for 'ping' command");
      return;
    case resp::Cmd::kEcho: resp::appendBulk(reply()->head, args[1]); return;
    case resp::Cmd::kQuit:
      resp::appendSimple(reply()->head, "OK");
      conn_.closeAfterWrite();
      return;
    case resp::Cmd::kHello: hello(reply(), args); return;
    case resp::Cmd::kClient: client(reply(), args); return;
    case resp::Cmd::kSelect:
      if (args[1] == "0") resp::appendSimple(reply()->head, "OK");
      else resp::appendError(reply()->head, "ERR DB index is out of range (the proxy serves the database of --redis as 0)");
      return;
    case resp::Cmd::kCommand: command(reply(), args); return;
    case resp::Cmd::kInfo: {
      std::string text = infoText(server, args.size() > 1 ? args[1] : std::string_view("default"));
      resp::appendBulk(reply()->head, text);
      return;
    }
    case resp::Cmd::kConfig:
      // Tools such as redis-benchmark read settings at start-up; the proxy has no Redis settings
      // to report, so CONFIG GET answers an empty list and anything else is refused.
      if (resp::equalsIgnoreCase(args[1], "GET") && args.size() >= 3) resp::appendArrayHeader(reply()->head, 0);
      else resp::appendError(reply()->head, "ERR the proxy supports CONFIG GET only (and reports nothing)");
      return;
    case resp::Cmd::kUnknown: break;
  }
}

void RespSession::get(std::string_view key) {
  Server& server = conn_.server();
  if (key.size() > server.config().max_key_bytes) {
    server.countGet(false, Outcome::kError);
    resp::appendError(reply()->head, "ERR key is too long (over --max-key-bytes, " +
                                         std::to_string(server.config().max_key_bytes) + " bytes)");
    return;
  }
  server.readThrough().get(key, conn_.pushSlot());
}

void RespSession::hello(Slot* s, const std::vector<std::string_view>& args) {
  if (args.size() >= 2) {
    long long ver = 0;
    auto [p, ec] = std::from_chars(args[1].data(), args[1].data() + args[1].size(), ver);
    if (ec != std::errc() || p != args[1].data() + args[1].size() || ver < 2) {
      resp::appendError(s->head, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (ver != 2) {
      resp::appendError(s->head, "NOPROTO sorry, this protocol version is not supported");
      return;
    }
    for (size_t i = 2; i < args.size(); ++i) {
      if (resp::equalsIgnoreCase(args[i], "SETNAME") && i + 1 < args.size()) {
        conn_.name().assign(args[++i]);
      } else if (resp::equalsIgnoreCase(args[i], "AUTH") && i + 2 < args.size()) {
        i += 2;  // the proxy has no users of its own: accepted as Redis does without requirepass
      } else {
        resp::appendError(s->head, "ERR Syntax error in HELLO option '" + resp::oneLine(args[i].substr(0, 64)) + "'");
        return;
      }
    }
  }
  std::string& o = s->head;
  resp::appendArrayHeader(o, 14);
  resp::appendBulk(o, "server");  resp::appendBulk(o, "redis-cache-proxy");
  resp::appendBulk(o, "version"); resp::appendBulk(o, RCP_VERSION);
  resp::appendBulk(o, "proto");   resp::appendInteger(o, 2);
  resp::appendBulk(o, "id");      resp::appendInteger(o, static_cast<long long>(conn_.id()));
  resp::appendBulk(o, "mode");    resp::appendBulk(o, "standalone");
  resp::appendBulk(o, "role");    resp::appendBulk(o, "master");
  resp::appendBulk(o, "modules"); resp::appendArrayHeader(o, 0);
}

void RespSession::client(Slot* s, const std::vector<std::string_view>& args) {
  std::string_view sub = args[1];
  if (resp::equalsIgnoreCase(sub, "SETNAME") && args.size() == 3) {
    for (char c : args[2]) {
      if (c < '!' || c > '~') {
        resp::appendError(s->head, "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
    }
    conn_.name().assign(args[2]);
    resp::appendSimple(s->head, "OK");
  } else if (resp::equalsIgnoreCase(sub, "GETNAME") && args.size() == 2) {
    if (conn_.name().empty()) resp::appendNil(s->head);
    else resp::appendBulk(s->head, conn_.name());
  } else if (resp::equalsIgnoreCase(sub, "SETINFO") && args.size() == 4) {
    resp::appendSimple(s->head, "OK");
  } else if (resp::equalsIgnoreCase(sub, "ID") && args.size() == 2) {
    resp::appendInteger(s->head, static_cast<long long>(conn_.id()));
  } else {
    resp::appendError(s->head, "ERR unknown subcommand or wrong number of arguments for '" +
                                   resp::oneLine(sub.substr(0, 64)) + "'. The proxy supports CLIENT SETNAME, GETNAME, SETINFO, ID");
  }
}

void RespSession::command(Slot* s, const std::vector<std::string_view>& args) {
  auto all = resp::allCommands();
  if (args.size() == 1) {
    resp::appendArrayHeader(s->head, static_cast<long long>(all.size()));
    for (const auto& c : all) appendSpec(s->head, c);
  } else if (resp::equalsIgnoreCase(args[1], "COUNT")) {
    resp::appendInteger(s->head, static_cast<long long>(all.size()));
  } else if (resp::equalsIgnoreCase(args[1], "DOCS")) {
    resp::appendArrayHeader(s->head, 0);  // no docs: clients fall back to their built-in help
  } else if (resp::equalsIgnoreCase(args[1], "INFO")) {
    resp::appendArrayHeader(s->head, static_cast<long long>(args.size() - 2));
    for (size_t i = 2; i < args.size(); ++i) {
      const resp::CommandSpec* c = resp::lookupCommand(args[i]);
      if (c != nullptr) appendSpec(s->head, *c);
      else resp::appendNil(s->head);
    }
  } else {
    resp::appendError(s->head, "ERR unknown subcommand '" + resp::oneLine(args[1].substr(0, 64)) +
                                   "'. The proxy supports COMMAND, COMMAND COUNT, COMMAND DOCS, COMMAND INFO");
  }
}

}  // namespace rcp
