// The command table: which RESP commands the proxy understands, with Redis-style arity
// (positive: exact argument count including the name; negative: at least that many).
#pragma once

#include <span>
#include <string_view>

namespace rcp::resp {

enum class Cmd { kUnknown, kGet, kPing, kEcho, kQuit, kHello, kClient, kSelect, kCommand, kInfo, kConfig };

struct CommandSpec {
  std::string_view name;   // lower case, as COMMAND reports it
  Cmd cmd;
  int arity;
  std::string_view flags;  // space-separated COMMAND flags
  int first_key, last_key, key_step;
};

// GET, in any case: nearly every request, so it is recognised before any table lookup.
inline bool isGetName(std::string_view name) noexcept {
  return name.size() == 3 && (name[0] | 0x20) == 'g' && (name[1] | 0x20) == 'e' && (name[2] | 0x20) == 't';
}

// Case-insensitive lookup; nullptr when the proxy does not know the command.
const CommandSpec* lookupCommand(std::string_view name) noexcept;
std::span<const CommandSpec> allCommands() noexcept;
bool arityOk(const CommandSpec& spec, size_t argc) noexcept;

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

}  // namespace rcp::resp
