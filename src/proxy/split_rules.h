// In front of a Redis Cluster, the commands that concern more than one node, as data: a multi-key
// command whose keys span slots is split by slot (one command per slot, the replies combined as one
// Redis would have answered), and a keyless command about the whole dataset goes to every primary.
// One rule per command shape; the forwarder (forwarder.h) sends the parts and combines the replies.
// A multi-slot command with no rule here gets Redis Cluster's CROSSSLOT; a keyless one with none
// goes to the default node.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace rcp::proxy {

// How the parts' replies become the one reply.
enum class Combine : uint8_t {
  kSum,     // DEL, UNLINK, EXISTS, TOUCH, DBSIZE: the sum of the integers
  kAllOk,   // MSET, FLUSHALL, FLUSHDB, SCRIPT FLUSH: +OK when every part says so
  kByKey,   // MGET: the values in the order of the keys
  kConcat,  // KEYS: every part's elements
  kFirst,   // SCRIPT LOAD: the first part's reply (each node answers the same)
  kScan,    // SCAN on one node: its cursor carries the node's index (Forwarder::forwardScan)
};

struct SplitRule {
  enum class Kind : uint8_t {
    kBySlot,        // keys in several slots: one command per slot (keys in their order within it)
    kEveryPrimary,  // keyless: the command as it is, to every primary
    kScan,          // SCAN: every primary in turn, one cursor (Forwarder::forwardScan)
  };
  std::string_view name;  // lower case
  std::string_view sub;   // the subcommand (case-insensitive), or empty for any
  Kind kind;
  uint8_t step;           // kBySlot: arguments per key (a key, then step - 1 values)
  Combine how;
  uint8_t min_args;       // argument count, the name included
  uint8_t max_args;       // 0: no bound
};

// The rule for a request, or null. multi_slot: its keys span slots (only kBySlot rules apply);
// otherwise it is keyless (only the others do). A kBySlot request whose arguments do not divide
// into whole keys (an MSET missing a value) has no rule.
const SplitRule* findSplitRule(std::span<const std::string_view> args, bool multi_slot) noexcept;

}  // namespace rcp::proxy
