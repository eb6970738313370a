// RESP protocol session: parses requests (multibulk and inline) and runs them: GET through the
// read-through cache, the connection-level commands (PING, ECHO, QUIT, HELLO, CLIENT, SELECT,
// COMMAND, INFO) answered by the proxy itself, anything else refused with an error.
#pragma once

#include <string_view>
#include <vector>

#include "resp/request_parser.h"
#include "src/session.h"

namespace rcp {

class Connection;
struct Slot;
namespace resp { struct CommandSpec; }

class RespSession final : public Session {
 public:
  explicit RespSession(Connection& conn);
  void onData(const char* data, size_t len) override;
  void resume() override { run(); }
  bool hasBacklog() const override { return parser_.buffered() > 0; }

 private:
  void run();
  // Prefetches the cache lines the next GETs in the input will touch (see LruCache::prefetch).
  void prefetchAhead();
  static constexpr size_t kPrefetchRequests = 16;  // GETs looked ahead at once
  static constexpr size_t kMinBatchBytes = 64;     // less input than this is at most one short GET
  void dispatch(const std::vector<std::string_view>& args);
  void get(std::string_view key);  // GET: the read-through cache
  Slot* reply();  // a ready slot whose head the caller fills
  void hello(Slot* s, const std::vector<std::string_view>& args);
  void client(Slot* s, const std::vector<std::string_view>& args);
  void command(Slot* s, const std::vector<std::string_view>& args);

  Connection& conn_;
  resp::RequestParser parser_;
  size_t prefetched_ = 0;  // requests parsed ahead of whose cache lines were prefetched
};

}  // namespace rcp
