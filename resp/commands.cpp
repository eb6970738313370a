// The command table (see commands.h). Small enough that a linear scan with a length check first
// beats hashing; GET is first so the hot path compares one entry.
#include "resp/commands.h"

#include <array>

namespace rcp::resp {

namespace {
constexpr std::array kCommands = {
    CommandSpec{"get", Cmd::kGet, 2, "readonly fast", 1, 1, 1},
    CommandSpec{"ping", Cmd::kPing, -1, "fast stale", 0, 0, 0},
    CommandSpec{"echo", Cmd::kEcho, 2, "fast", 0, 0, 0},
    CommandSpec{"quit", Cmd::kQuit, -1, "fast noscript", 0, 0, 0},
    CommandSpec{"hello", Cmd::kHello, -1, "noscript fast", 0, 0, 0},
    CommandSpec{"client", Cmd::kClient, -2, "noscript", 0, 0, 0},
    CommandSpec{"select", Cmd::kSelect, 2, "fast", 0, 0, 0},
    CommandSpec{"command", Cmd::kCommand, -1, "random", 0, 0, 0},
    CommandSpec{"info", Cmd::kInfo, -1, "random", 0, 0, 0},
    CommandSpec{"config", Cmd::kConfig, -2, "admin noscript", 0, 0, 0},
};

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

}  // namespace rcp::resp
