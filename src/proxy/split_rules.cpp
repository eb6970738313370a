// The cluster's split and fan-out rules (see split_rules.h).
#include "src/proxy/split_rules.h"

#include "resp/commands.h"

namespace rcp::proxy {

namespace {
using K = SplitRule::Kind;
constexpr SplitRule kRules[] = {
    // name        sub      kind              step  how               min max
    {"del",        "",      K::kBySlot,       1,    Combine::kSum,    2,  0},
    {"unlink",     "",      K::kBySlot,       1,    Combine::kSum,    2,  0},
    {"exists",     "",      K::kBySlot,       1,    Combine::kSum,    2,  0},
    {"touch",      "",      K::kBySlot,       1,    Combine::kSum,    2,  0},
    {"mset",       "",      K::kBySlot,       2,    Combine::kAllOk,  3,  0},
    {"mget",       "",      K::kBySlot,       1,    Combine::kByKey,  2,  0},
    {"dbsize",     "",      K::kEveryPrimary, 0,    Combine::kSum,    1,  1},
    {"keys",       "",      K::kEveryPrimary, 0,    Combine::kConcat, 2,  2},
    {"flushall",   "",      K::kEveryPrimary, 0,    Combine::kAllOk,  1,  2},
    {"flushdb",    "",      K::kEveryPrimary, 0,    Combine::kAllOk,  1,  2},
    {"script",     "load",  K::kEveryPrimary, 0,    Combine::kFirst,  2,  0},  // EVALSHA then runs on any node
    {"script",     "flush", K::kEveryPrimary, 0,    Combine::kAllOk,  2,  0},
    {"scan",       "",      K::kScan,         0,    Combine::kScan,   2,  0},
};
}  // namespace

const SplitRule* findSplitRule(std::span<const std::string_view> args, bool multi_slot) noexcept {
  if (args.empty()) return nullptr;
  for (const SplitRule& rule : kRules) {
    if ((rule.kind == K::kBySlot) != multi_slot || !resp::equalsIgnoreCase(rule.name, args[0])) continue;
    if (!rule.sub.empty() && (args.size() < 2 || !resp::equalsIgnoreCase(rule.sub, args[1]))) continue;
    if (args.size() < rule.min_args || (rule.max_args != 0 && args.size() > rule.max_args)) continue;
    if (rule.kind == K::kBySlot && (args.size() - 1) % rule.step != 0) return nullptr;
    return &rule;
  }
  return nullptr;
}

}  // namespace rcp::proxy
