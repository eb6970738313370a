// The command table: each command the proxy knows, with Redis-style arity (positive: exact
// argument count including the name; negative: at least that many), its flags as bits, and its
// key positions (first, last, step, as COMMAND reports them). The COMMAND reply is derived from
// it, and requests are routed on it: what the proxy answers itself, what the cache serves.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rcp::resp {

// Commands the proxy runs itself, by name (kUnknown: not one of them).
enum class Cmd : uint8_t { kUnknown, kGet, kPing, kEcho, kQuit, kHello, kClient, kSelect, kCommand, kInfo, kConfig };

// Flags as Redis reports them in COMMAND (rendered in this order)...
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
  kRedisFlagCount = 10,
  // ...and the proxy's routing, which COMMAND does not show.
  kRouteLocal = 1u << 16,        // answered by the proxy itself
  kRouteCacheable = 1u << 17,    // served through the read-through cache
  kRouteTransaction = 1u << 18,  // MULTI / EXEC / DISCARD / WATCH state
};

struct CommandSpec {
  std::string_view name;  // lower case, as COMMAND reports it
  Cmd cmd;
  int arity;
  uint32_t flags;         // CommandFlag bits
  int first_key, last_key, key_step;
  bool has(uint32_t flag) const noexcept { return (flags & flag) != 0; }
};

// GET, in any case: nearly every request, so it is recognised before any table lookup.
inline bool isGetName(std::string_view name) noexcept {
  return name.size() == 3 && (name[0] | 0x20) == 'g' && (name[1] | 0x20) == 'e' && (name[2] | 0x20) == 't';
}

// Case-insensitive lookup; nullptr when the proxy does not know the command.
const CommandSpec* lookupCommand(std::string_view name) noexcept;
std::span<const CommandSpec> allCommands() noexcept;
bool arityOk(const CommandSpec& spec, size_t argc) noexcept;
// The Redis flag names of spec, in COMMAND's order ("readonly", "fast", ...).
std::vector<std::string_view> flagNames(const CommandSpec& spec);
// Appends spec as one COMMAND / COMMAND INFO entry: [name, arity, [flags], first, last, step].
void appendCommandEntry(std::string& out, const CommandSpec& spec);
// The argument indexes that name keys in args (args[0] is the command), from the key positions.
std::vector<size_t> keyIndexes(const CommandSpec& spec, size_t argc);

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

}  // namespace rcp::resp
