// The command table: every command the proxy routes, with Redis-style arity (positive: exact
// argument count including the name; negative: at least that many), its flags as bits, and its
// key positions (first, last, step, as COMMAND reports them). The table is learned from the
// backend's own COMMAND reply (so new and module commands route correctly); the built-in copy
// (command_table.inc, generated from Redis's COMMAND) is the fallback. Requests are routed on it:
// which commands the proxy answers, which the cache serves, which keys a write invalidates.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rcp::resp {

class FrameView;

// The commands whose routing is the proxy's own business (kOther: forwarded as they are).
enum class Cmd : uint8_t {
  kOther, kGet, kMget, kPing, kEcho, kQuit, kReset, kHello, kAuth, kClient, kSelect, kInfo,
  kMulti, kExec, kDiscard, kWatch, kUnwatch,
  kSubscribe,    // SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE
  kUnsubscribe,  // UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE
  kMonitor,
  kFlush,        // FLUSHALL, FLUSHDB, SWAPDB: every key changes
  kScript,       // EVAL, EVALSHA, FCALL: may write their declared keys
  kWait,         // WAIT, WAITAOF: block without the blocking flag
  kXread,        // XREAD, XREADGROUP: block only with BLOCK
};

// Flags as Redis reports them in COMMAND.
enum CommandFlag : uint32_t {
  kFlagReadonly = 1u << 0,
  kFlagWrite = 1u << 1,
  kFlagAdmin = 1u << 2,
  kFlagPubSub = 1u << 3,
  kFlagNoscript = 1u << 4,
  kFlagBlocking = 1u << 5,
  kFlagLoading = 1u << 6,
  kFlagStale = 1u << 7,
  kFlagFast = 1u << 8,
  kFlagRandom = 1u << 9,
  kFlagMovableKeys = 1u << 10,  // the key positions do not cover every key (EVAL's numkeys, SORT ... STORE)
};

struct CommandSpec {
  std::string_view name;  // lower case, as COMMAND reports it
  int arity;
  uint32_t flags;         // CommandFlag bits
  int first_key, last_key, key_step;
  Cmd cmd = Cmd::kOther;
  bool has(uint32_t flag) const noexcept { return (flags & flag) != 0; }
};

// GET, in any case: nearly every request, so it is recognised before any table lookup.
inline bool isGetName(std::string_view name) noexcept {
  return name.size() == 3 && (name[0] | 0x20) == 'g' && (name[1] | 0x20) == 'e' && (name[2] | 0x20) == 't';
}
inline bool isMgetName(std::string_view name) noexcept {
  return name.size() == 4 && (name[0] | 0x20) == 'm' && isGetName(name.substr(1));
}

class CommandTable {
 public:
  CommandTable();  // the built-in table
  CommandTable(const CommandTable&) = delete;
  CommandTable& operator=(const CommandTable&) = delete;

  // Case-insensitive; nullptr when the command is not in the table.
  const CommandSpec* find(std::string_view name) const;
  // Replaces the table with the entries of a COMMAND reply (each [name, arity, [flags], first,
  // last, step, ...]). Returns the number learned; a reply with none leaves the table as it was.
  size_t learn(const FrameView& reply);
  // The table came from the backend: a command not in it is one the backend does not know.
  bool learned() const noexcept { return learned_; }
  size_t size() const noexcept { return map_.size(); }
  // Bumped each time learn() replaces the table: a CommandSpec* kept from an older one is gone.
  uint32_t generation() const noexcept { return generation_; }

 private:
  void add(std::string_view name, int arity, uint32_t flags, int first, int last, int step);
  std::unordered_map<std::string, CommandSpec> map_;  // by lower-case name; spec.name views the key
  bool learned_ = false;
  uint32_t generation_ = 0;
};

// The command a name denotes for routing (case-insensitive).
Cmd commandId(std::string_view name) noexcept;
bool arityOk(const CommandSpec& spec, size_t argc) noexcept;
// The argument indexes that name keys in a request of argc arguments, from the key positions.
std::vector<size_t> keyIndexes(const CommandSpec& spec, size_t argc);
// Whether the command may change keys (the write flag, or a script).
inline bool mayWrite(const CommandSpec& spec) noexcept {
  return spec.has(kFlagWrite) || spec.cmd == Cmd::kScript || spec.cmd == Cmd::kFlush;
}
// The keys a request of spec may write, appended to out: its key positions, and for the commands
// whose keys move, the keys its arguments name (EVAL's numkeys, SORT ... STORE, MIGRATE ... KEYS).
// False when they cannot be known (the caller must then assume every key changed).
bool writtenKeys(const CommandSpec& spec, std::span<const std::string_view> args, std::vector<std::string_view>& out);
// Whether the request blocks in Redis (BLPOP, XREAD ... BLOCK, WAIT ...) when run outside MULTI.
bool blocks(const CommandSpec& spec, std::span<const std::string_view> args) noexcept;

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

}  // namespace rcp::resp
