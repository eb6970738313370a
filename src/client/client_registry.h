// The proxy's clients as one registry: what CLIENT LIST, CLIENT INFO and CLIENT KILL read and act
// on. Every client connection (RESP and HTTP) is one line in Redis's CLIENT LIST format, with the
// fields the proxy knows filled truthfully; the filters of CLIENT LIST (TYPE, ID) and CLIENT KILL
// (ip:port; ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE) are Redis's, with its replies and errors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace rcp::client {

// One client connection, as CLIENT LIST shows it.
struct ClientInfo {
  uint64_t id = 0;
  std::string addr, laddr;        // the client's address and the proxy's it connected to (ip:port)
  std::string name, lib_name, lib_ver;
  uint64_t age_s = 0, idle_s = 0;  // since it connected; since its last request
  std::string flags = "N";         // Redis's letters: P (subscribed), x (MULTI), t (tracking), R (its
                                   // redirect target left), B (BCAST), O (MONITOR); N for none
  long long redir = -1;            // CLIENT TRACKING's REDIRECT id (0: none; -1: not tracking)
  int db = 0;
  long long sub = 0, ssub = 0;     // subscriptions known (RESP3 counts them), shard subscriptions
  std::string cmd = "NULL";        // its last command, lower case
  int resp = 2;
  bool pubsub = false;             // TYPE pubsub (subscribed), else normal
  bool http = false;               // an HTTP client (cmd shows "http")
};

// The line (with its newline) Redis's CLIENT LIST / CLIENT INFO give for c.
std::string clientLine(const ClientInfo& c);

// Where the registry's lines come from and what CLIENT KILL closes (the client set).
class ClientDirectory {
 public:
  // Every client connection (not those being refused), by id.
  virtual std::vector<ClientInfo> clients() = 0;
  // Closes the clients with these ids (one pass, however many); the caller's own connection closes
  // after its reply.
  virtual void kill(const std::vector<uint64_t>& ids, uint64_t caller) = 0;
  // The client with this id is blocked: its connection's id on Redis, and the slot of its node.
  virtual bool blocked(uint64_t id, long long* redis_id, int32_t* slot) = 0;

 protected:
  ~ClientDirectory() = default;
};

// A MONITOR line as Redis writes it ("<time> [<db> <addr>] "cmd" …", the simple string's text) with
// <addr> replaced by who(addr) when that is not empty: the address of the proxy's client that owns
// the connection Redis names (a pinned connection's). Any other line is left as it came.
std::string monitorLine(std::string_view line, const std::function<std::string(std::string_view)>& who);

// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]: the reply (a bulk string, or
// verbatim to RESP3) or Redis's error, appended to out.
void clientList(const std::vector<std::string_view>& args, ClientDirectory& dir, int proto, std::string& out);
// CLIENT KILL ip:port (+OK or "No such client") or CLIENT KILL <filter value> … (the number
// closed); self is the caller, killed last, after its reply.
void clientKill(const std::vector<std::string_view>& args, const ClientInfo& self, ClientDirectory& dir, std::string& out);

}  // namespace rcp::client
