// The command table (see commands.h). Small enough that a linear scan with a length check first
// beats hashing; GET is first so the hot path compares one entry.
#include "resp/commands.h"

#include <array>

#include "resp/reply.h"

namespace rcp::resp {

namespace {
constexpr uint32_t kLocal = kRouteLocal;
constexpr std::array kCommands = {
    CommandSpec{"get", Cmd::kGet, 2, kFlagReadonly | kFlagFast | kRouteCacheable, 1, 1, 1},
    CommandSpec{"ping", Cmd::kPing, -1, kFlagFast | kFlagStale | kLocal, 0, 0, 0},
    CommandSpec{"echo", Cmd::kEcho, 2, kFlagFast | kLocal, 0, 0, 0},
    CommandSpec{"quit", Cmd::kQuit, -1, kFlagFast | kFlagNoscript | kLocal, 0, 0, 0},
    CommandSpec{"hello", Cmd::kHello, -1, kFlagNoscript | kFlagFast | kLocal, 0, 0, 0},
    CommandSpec{"client", Cmd::kClient, -2, kFlagNoscript | kLocal, 0, 0, 0},
    CommandSpec{"select", Cmd::kSelect, 2, kFlagFast | kLocal, 0, 0, 0},
    CommandSpec{"command", Cmd::kCommand, -1, kFlagRandom | kLocal, 0, 0, 0},
    CommandSpec{"info", Cmd::kInfo, -1, kFlagRandom | kLocal, 0, 0, 0},
    CommandSpec{"config", Cmd::kConfig, -2, kFlagAdmin | kFlagNoscript | kLocal, 0, 0, 0},
};

constexpr std::array<std::string_view, kRedisFlagCount> kFlagNames = {
    "readonly", "write", "admin", "pubsub", "noscript", "blocking", "loading", "stale", "fast", "random"};

inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

const CommandSpec* lookupCommand(std::string_view name) noexcept {
  // GET is nearly every request: answer it with three byte compares.
  if (isGetName(name)) return &kCommands[0];
  for (const CommandSpec& c : kCommands)
    if (equalsIgnoreCase(c.name, name)) return &c;
  return nullptr;
}

std::span<const CommandSpec> allCommands() noexcept { return kCommands; }

bool arityOk(const CommandSpec& spec, size_t argc) noexcept {
  return spec.arity >= 0 ? argc == static_cast<size_t>(spec.arity) : argc >= static_cast<size_t>(-spec.arity);
}

std::vector<std::string_view> flagNames(const CommandSpec& spec) {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < kFlagNames.size(); ++i)
    if (spec.has(1u << i)) names.push_back(kFlagNames[i]);
  return names;
}

void appendCommandEntry(std::string& out, const CommandSpec& spec) {
  std::vector<std::string_view> flags = flagNames(spec);
  appendArrayHeader(out, 6);
  appendBulk(out, spec.name);
  appendInteger(out, spec.arity);
  appendArrayHeader(out, static_cast<long long>(flags.size()));
  for (std::string_view f : flags) appendSimple(out, f);
  appendInteger(out, spec.first_key);
  appendInteger(out, spec.last_key);
  appendInteger(out, spec.key_step);
}

std::vector<size_t> keyIndexes(const CommandSpec& spec, size_t argc) {
  std::vector<size_t> keys;
  if (spec.first_key <= 0 || spec.key_step <= 0) return keys;
  // last < 0 counts from the end (-1: the last argument), as in Redis's key specs.
  long long last = spec.last_key >= 0 ? spec.last_key : static_cast<long long>(argc) + spec.last_key;
  for (long long i = spec.first_key; i <= last && i < static_cast<long long>(argc); i += spec.key_step)
    keys.push_back(static_cast<size_t>(i));
  return keys;
}

}  // namespace rcp::resp
