// The command table and the key rules of writes (see commands.h).
#include "resp/commands.h"

#include <array>
#include <charconv>
#include <utility>

#include "resp/frame.h"

namespace rcp::resp {

namespace {
struct BuiltIn {
  std::string_view name;
  int arity;
  uint32_t flags;
  int first, last, step;
};
constexpr BuiltIn kBuiltIn[] = {
#include "resp/command_table.inc"
};

constexpr std::array<std::pair<std::string_view, uint32_t>, 11> kFlagNames = {{
    {"readonly", kFlagReadonly}, {"write", kFlagWrite}, {"admin", kFlagAdmin}, {"pubsub", kFlagPubSub},
    {"noscript", kFlagNoscript}, {"blocking", kFlagBlocking}, {"loading", kFlagLoading}, {"stale", kFlagStale},
    {"fast", kFlagFast}, {"random", kFlagRandom}, {"movablekeys", kFlagMovableKeys},
}};

constexpr std::pair<std::string_view, Cmd> kIds[] = {
    {"get", Cmd::kGet},         {"mget", Cmd::kMget},           {"ping", Cmd::kPing},
    {"echo", Cmd::kEcho},       {"quit", Cmd::kQuit},           {"reset", Cmd::kReset},
    {"hello", Cmd::kHello},     {"auth", Cmd::kAuth},           {"client", Cmd::kClient},
    {"select", Cmd::kSelect},   {"info", Cmd::kInfo},           {"multi", Cmd::kMulti},
    {"exec", Cmd::kExec},       {"discard", Cmd::kDiscard},     {"watch", Cmd::kWatch},
    {"unwatch", Cmd::kUnwatch}, {"subscribe", Cmd::kSubscribe}, {"psubscribe", Cmd::kSubscribe},
    {"ssubscribe", Cmd::kSubscribe}, {"unsubscribe", Cmd::kUnsubscribe}, {"punsubscribe", Cmd::kUnsubscribe},
    {"sunsubscribe", Cmd::kUnsubscribe}, {"monitor", Cmd::kMonitor}, {"flushall", Cmd::kFlush},
    {"flushdb", Cmd::kFlush},   {"swapdb", Cmd::kFlush},        {"eval", Cmd::kScript},
    {"evalsha", Cmd::kScript},  {"fcall", Cmd::kScript},        {"wait", Cmd::kWait},
    {"waitaof", Cmd::kWait},    {"xread", Cmd::kXread},         {"xreadgroup", Cmd::kXread},
};

inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool parseCount(std::string_view s, size_t* out) noexcept {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The numkeys form: args[at] counts the keys that follow it (EVAL script numkeys k..., LMPOP numkeys k...).
bool numkeys(std::span<const std::string_view> args, size_t at, std::vector<std::string_view>& out) {
  size_t n = 0;
  if (at >= args.size() || !parseCount(args[at], &n) || n > args.size() - at - 1) return false;
  for (size_t i = 0; i < n; ++i) out.push_back(args[at + 1 + i]);
  return true;
}

// The argument after each occurrence of one of the keywords (SORT ... STORE dst).
void afterKeyword(std::span<const std::string_view> args, size_t from, std::initializer_list<std::string_view> words,
                  std::vector<std::string_view>& out) {
  for (size_t i = from; i + 1 < args.size(); ++i)
    for (std::string_view w : words)
      if (equalsIgnoreCase(args[i], w)) out.push_back(args[i + 1]);
}
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

Cmd commandId(std::string_view name) noexcept {
  for (const auto& [n, id] : kIds)
    if (equalsIgnoreCase(n, name)) return id;
  return Cmd::kOther;
}

CommandTable::CommandTable() {
  for (const BuiltIn& b : kBuiltIn) add(b.name, b.arity, b.flags, b.first, b.last, b.step);
}

void CommandTable::add(std::string_view name, int arity, uint32_t flags, int first, int last, int step) {
  auto [it, fresh] = map_.try_emplace(lowerCopy(name));
  CommandSpec& s = it->second;
  s.name = it->first;  // the key is node-based: it stays where it is
  s.arity = arity;
  s.flags = flags;
  s.first_key = first;
  s.last_key = last;
  s.key_step = step;
  s.cmd = commandId(s.name);
}

const CommandSpec* CommandTable::find(std::string_view name) const {
  char buf[64];
  if (name.size() > sizeof buf) {
    auto it = map_.find(lowerCopy(name));
    return it == map_.end() ? nullptr : &it->second;
  }
  for (size_t i = 0; i < name.size(); ++i) buf[i] = lower(name[i]);
  // The table is built once per connection to Redis; a lookup costs one short string.
  auto it = map_.find(std::string(buf, name.size()));
  return it == map_.end() ? nullptr : &it->second;
}

size_t CommandTable::learn(const FrameView& reply) {
  if (reply.type() != FrameType::kArray || reply.size() == 0) return 0;
  std::unordered_map<std::string, CommandSpec> old;
  old.swap(map_);
  size_t n = 0;
  FrameView e = reply[0];
  for (size_t i = 0; i < reply.size(); ++i, e = i < reply.size() ? e.next() : e) {
    if (e.type() != FrameType::kArray || e.size() < 6) continue;
    FrameView name = e[0], arity = e[1], flags = e[2], first = e[3], last = e[4], step = e[5];
    if (name.type() != FrameType::kBulk || arity.type() != FrameType::kInteger || flags.type() != FrameType::kArray ||
        first.type() != FrameType::kInteger || last.type() != FrameType::kInteger || step.type() != FrameType::kInteger)
      continue;
    uint32_t bits = 0;
    if (flags.size() > 0) {
      FrameView f = flags[0];
      for (size_t j = 0; j < flags.size(); ++j, f = j < flags.size() ? f.next() : f)
        for (const auto& [fname, bit] : kFlagNames)
          if (f.str() == fname) bits |= bit;
    }
    add(name.str(), static_cast<int>(arity.integer()), bits, static_cast<int>(first.integer()),
        static_cast<int>(last.integer()), static_cast<int>(step.integer()));
    ++n;
  }
  if (n == 0) {
    map_.swap(old);
    return 0;
  }
  learned_ = true;
  ++generation_;
  return n;
}

bool arityOk(const CommandSpec& spec, size_t argc) noexcept {
  return spec.arity >= 0 ? argc == static_cast<size_t>(spec.arity) : argc >= static_cast<size_t>(-spec.arity);
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

bool writtenKeys(const CommandSpec& spec, std::span<const std::string_view> args, std::vector<std::string_view>& out) {
  if (spec.first_key > 0 && spec.key_step > 0) {  // keyIndexes(), without a vector: every forwarded write
    long long argc = static_cast<long long>(args.size());
    long long last = spec.last_key >= 0 ? spec.last_key : argc + spec.last_key;
    for (long long i = spec.first_key; i <= last && i < argc; i += spec.key_step) out.push_back(args[static_cast<size_t>(i)]);
  }
  if (spec.cmd == Cmd::kScript) return numkeys(args, 2, out);  // EVAL script numkeys key... arg...
  if (!spec.has(kFlagMovableKeys)) return true;
  std::string_view n = spec.name;
  if (n == "sort") {
    afterKeyword(args, 2, {"STORE"}, out);
  } else if (n == "georadius" || n == "georadiusbymember") {
    afterKeyword(args, 3, {"STORE", "STOREDIST"}, out);
  } else if (n == "migrate") {
    for (size_t i = 6; i < args.size(); ++i)
      if (equalsIgnoreCase(args[i], "KEYS")) {
        for (size_t j = i + 1; j < args.size(); ++j) out.push_back(args[j]);
        break;
      }
  } else if (n == "lmpop" || n == "zmpop" || n == "sintercard" || n == "zintercard") {
    return numkeys(args, 1, out);
  } else if (n == "blmpop" || n == "bzmpop") {
    return numkeys(args, 2, out);
  } else if (n == "zunionstore" || n == "zinterstore" || n == "zdiffstore") {
    return true;  // the destination is the one key written, at the key position
  } else if (n == "xreadgroup") {
    for (size_t i = 1; i < args.size(); ++i)  // the stream keys: the first half after STREAMS
      if (equalsIgnoreCase(args[i], "STREAMS")) {
        size_t rest = args.size() - i - 1;
        for (size_t j = 0; j < rest / 2; ++j) out.push_back(args[i + 1 + j]);
        break;
      }
  } else if (spec.has(kFlagWrite)) {
    return false;  // a write whose keys move, and whose arguments the proxy does not read (a module)
  }
  return true;
}

bool blocks(const CommandSpec& spec, std::span<const std::string_view> args) noexcept {
  if (spec.cmd == Cmd::kWait) return true;
  if (spec.cmd == Cmd::kXread) {
    for (size_t i = 1; i < args.size(); ++i) {
      if (equalsIgnoreCase(args[i], "STREAMS")) break;
      if (equalsIgnoreCase(args[i], "BLOCK")) return true;
    }
    return false;
  }
  return spec.has(kFlagBlocking);
}

}  // namespace rcp::resp
