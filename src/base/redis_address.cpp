// Addresses of Redis as --redis gives them: host:port, redis://, rediss:// (TLS) and unix://
// URLs with credentials and a database, and a cluster's comma-separated seeds (see config.h).
#include <string>
#include <vector>

#include "src/base/config.h"

namespace rcp {

std::string BackendAddress::display() const {
  if (unix()) return "unix://" + host + (db != 0 ? "?db=" + std::to_string(db) : std::string());
  std::string s = tls ? "rediss://" : "";
  s += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  s += ":" + std::to_string(port);
  if (db != 0) s += "/" + std::to_string(db);
  return s;
}

// s with its credentials masked ("redis://user:***@host", "***@host"): what error messages show.
std::string maskCredentials(const std::string& s) {
  size_t start = s.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t at = s.rfind('@');
  if (at == std::string::npos || at < start) return s;
  size_t colon = s.find(':', start);
  std::string user = colon != std::string::npos && colon < at ? s.substr(start, colon - start) + ":" : std::string();
  return s.substr(0, start) + user + "***" + s.substr(at);
}

namespace {
// "user:password@rest" or "password@rest" (a password for the default user): the credentials go
// into a, rest keeps what follows the '@'.
void takeCredentials(std::string& rest, BackendAddress& a) {
  size_t at = rest.rfind('@');
  if (at == std::string::npos) return;
  std::string cred = rest.substr(0, at);
  rest = rest.substr(at + 1);
  if (size_t colon = cred.find(':'); colon != std::string::npos) {
    a.user = cred.substr(0, colon);
    a.password = cred.substr(colon + 1);
  } else {
    a.password = cred;
  }
}
}  // namespace

BackendAddress parseRedisAddress(const std::string& value, const std::string& what) {
  // Every message names the value with its password masked: errors go to stderr and to the log.
  const std::string s = maskCredentials(value);
  BackendAddress a;
  std::string rest = value;
  bool url = false;
  if (rest.rfind("unix://", 0) == 0) {
    // redis-py's form: unix:///path/redis.sock[?db=N] (credentials as unix://user:password@/path).
    rest = rest.substr(7);
    takeCredentials(rest, a);
    if (size_t q = rest.find('?'); q != std::string::npos) {
      std::string query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (query.rfind("db=", 0) != 0) throw ConfigError(what + ": a unix:// URL takes ?db=N only (got '" + s + "')");
      a.db = static_cast<int>(parseCount(query.substr(3), what + " database", 0, 1000000));
    }
    if (rest.empty() || rest[0] != '/') throw ConfigError(what + ": write a Unix socket as unix:///absolute/path (got '" + s + "')");
    a.host = rest;
    a.port = 0;
    return a;
  }
  if (rest.rfind("redis://", 0) == 0) {  // the scheme in lower case, as redis-cli and clients write it
    url = true;
    rest = rest.substr(8);
  } else if (rest.rfind("rediss://", 0) == 0) {  // TLS, as every client library writes it
    url = true;
    a.tls = true;
    rest = rest.substr(9);
  } else if (rest.find("://") != std::string::npos) {
    throw ConfigError(what + ": only redis://, rediss:// and unix:// URLs are supported (got '" + s + "')");
  }
  if (url) {
    takeCredentials(rest, a);
    if (size_t slash = rest.find('/'); slash != std::string::npos) {
      std::string db = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
      if (!db.empty()) a.db = static_cast<int>(parseCount(db, what + " database", 0, 1000000));
    }
  }
  if (!url && rest.find('@') != std::string::npos)
    throw ConfigError(what + ": give credentials as redis://user:password@host:port (got '" + s + "')");
  std::string host = rest, port;
  if (!rest.empty() && rest[0] == '[') {  // [::1]:6379
    size_t close = rest.find(']');
    if (close == std::string::npos) throw ConfigError(what + ": unbalanced '[' in '" + s + "'");
    host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw ConfigError(what + ": expected ':port' after ']' in '" + s + "'");
      port = after.substr(1);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    if (rest.find(':') != colon) throw ConfigError(what + ": write IPv6 addresses as [addr]:port (got '" + s + "')");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else if (!url) {
    throw ConfigError(what + ": expected host:port or redis://host[:port] (got '" + s + "')");
  }
  if (host.empty()) throw ConfigError(what + ": missing host in '" + s + "'");
  a.host = host;
  if (!port.empty() || !url) a.port = static_cast<uint16_t>(parseCount(port, what + " port", 1, 65535));
  return a;
}

std::vector<BackendAddress> parseRedisSeeds(const std::string& value, const std::string& what) {
  std::vector<BackendAddress> seeds;
  size_t at = 0;
  for (;;) {
    size_t comma = value.find(',', at);
    std::string one = value.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    while (!one.empty() && one.front() == ' ') one.erase(0, 1);
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (one.empty()) throw ConfigError(what + ": empty address in '" + maskCredentials(value) + "'");
    seeds.push_back(parseRedisAddress(one, what));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return seeds;
}

}  // namespace rcp
