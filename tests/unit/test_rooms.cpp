// The small rooms the middle is built of, each on its own: the cluster's split rules
// (src/proxy/split_rules.h), the slot grouping shared by MGET batches and split commands
// (src/proxy/slot_groups.h), a RESP client's state word (src/client/client_state.h) and the
// command shapes (src/client/command_shapes.h).
#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "resp/commands.h"
#include "src/client/client_state.h"
#include "src/client/command_shapes.h"
#include "src/proxy/slot_groups.h"
#include "src/proxy/split_rules.h"

namespace {
using rcp::proxy::Combine;
using rcp::proxy::findSplitRule;
using rcp::proxy::SplitRule;
using Args = std::vector<std::string_view>;

const SplitRule* rule(const Args& a, bool multi_slot) { return findSplitRule(a, multi_slot); }
}  // namespace

TEST_CASE("split rules: multi-key commands across slots are split, with how their replies combine") {
  for (std::string_view name : {"del", "DEL", "Unlink", "exists", "touch"}) {
    const SplitRule* r = rule({name, "a", "b"}, true);
    REQUIRE(r != nullptr);
    CHECK(r->kind == SplitRule::Kind::kBySlot);
    CHECK(r->step == 1);
    CHECK(r->how == Combine::kSum);
  }
  const SplitRule* mset = rule({"mset", "a", "1", "b", "2"}, true);
  REQUIRE(mset != nullptr);
  CHECK(mset->step == 2);
  CHECK(mset->how == Combine::kAllOk);
  CHECK(rule({"mset", "a", "1", "b"}, true) == nullptr);  // a key without its value: Redis's CROSSSLOT
  REQUIRE(rule({"mget", "a", "b"}, true) != nullptr);
  CHECK(rule({"mget", "a", "b"}, true)->how == Combine::kByKey);
  // Other multi-key commands have no rule (CROSSSLOT), and no split rule applies to a keyless request.
  CHECK(rule({"sunionstore", "d", "a", "b"}, true) == nullptr);
  CHECK(rule({"del", "a", "b"}, false) == nullptr);
}

TEST_CASE("split rules: keyless commands about the whole dataset go to every primary") {
  CHECK(rule({"dbsize"}, false)->how == Combine::kSum);
  CHECK(rule({"dbsize", "x"}, false) == nullptr);  // Redis's arity error, from the default node
  CHECK(rule({"keys", "*"}, false)->how == Combine::kConcat);
  CHECK(rule({"FLUSHALL"}, false)->how == Combine::kAllOk);
  CHECK(rule({"flushdb", "async"}, false)->how == Combine::kAllOk);
  CHECK(rule({"flushdb", "async", "x"}, false) == nullptr);
  CHECK(rule({"script", "LOAD", "return 1"}, false)->how == Combine::kFirst);
  CHECK(rule({"script", "flush"}, false)->how == Combine::kAllOk);
  CHECK(rule({"script", "exists", "abc"}, false) == nullptr);  // the default node
  CHECK(rule({"scan", "0"}, false)->kind == SplitRule::Kind::kScan);
  CHECK(rule({"scan"}, false) == nullptr);
  CHECK(rule({"ping"}, false) == nullptr);
  CHECK(rule({"dbsize"}, true) == nullptr);
}

TEST_CASE("slot groups: one group per slot, in the order slots first appear, items in order") {
  rcp::proxy::SlotGroups g;
  std::vector<uint16_t> slots = {7, 3, 7, 9, 3, 7};
  g.build(slots);
  REQUIRE(g.groups.size() == 3);
  CHECK(g.groups[0].slot == 7);
  CHECK(g.groups[1].slot == 3);
  CHECK(g.groups[2].slot == 9);
  auto items = [&](size_t i) {
    auto s = g.of(g.groups[i]);
    return std::vector<uint32_t>(s.begin(), s.end());
  };
  CHECK(items(0) == std::vector<uint32_t>{0, 2, 5});
  CHECK(items(1) == std::vector<uint32_t>{1, 4});
  CHECK(items(2) == std::vector<uint32_t>{3});
  // Reused: the buffers are rebuilt, nothing of the last grouping stays.
  std::vector<uint16_t> one = {5};
  g.build(one);
  REQUIRE(g.groups.size() == 1);
  CHECK(g.of(g.groups[0]).size() == 1);
  std::vector<uint16_t> none;
  g.build(none);
  CHECK(g.groups.empty());
}

TEST_CASE("client state: the flags word, and when the client holds state in Redis") {
  using rcp::client::ClientState;
  ClientState s(false, 0);
  CHECK_FALSE(s.has(ClientState::kAuthed));
  CHECK_FALSE(s.pinned());
  s.set(ClientState::kAuthed);
  s.set(ClientState::kMulti);
  CHECK(s.pinned());
  CHECK(s.take(ClientState::kMulti));
  CHECK_FALSE(s.take(ClientState::kMulti));
  CHECK_FALSE(s.pinned());
  s.db = 3;  // SELECT 3: another database than the cache's
  CHECK(s.pinned());
  s.db = 0;
  s.stream = ClientState::Stream::kPubSub;
  CHECK(s.pinned());
  s.set(ClientState::kWatching);
  s.set(ClientState::kTainted);
  s.set(ClientState::kMarkerPending);
  s.subs = 2;
  s.db = 5;
  s.resetPinned();  // the pinned connection is gone: everything but who the client is
  CHECK_FALSE(s.pinned());
  CHECK(s.has(ClientState::kAuthed));
  CHECK_FALSE(s.has(ClientState::kWatching));
  CHECK_FALSE(s.has(ClientState::kTainted));
  CHECK_FALSE(s.has(ClientState::kMarkerPending));
  CHECK(s.db == 0);
  CHECK(s.subs == 0);
  CHECK(s.stream == ClientState::Stream::kOff);
}

TEST_CASE("command shapes: each routed command has the shape its room serves") {
  using rcp::client::Shape;
  using rcp::client::shapeOf;
  using rcp::resp::Cmd;
  using rcp::resp::commandId;
  CHECK(shapeOf(commandId("get")) == Shape::kCached);
  CHECK(shapeOf(commandId("MGET")) == Shape::kCached);
  CHECK(shapeOf(commandId("ping")) == Shape::kConnection);
  CHECK(shapeOf(commandId("client")) == Shape::kConnection);
  CHECK(shapeOf(commandId("multi")) == Shape::kPinning);
  CHECK(shapeOf(commandId("select")) == Shape::kPinning);
  CHECK(shapeOf(commandId("psubscribe")) == Shape::kStream);
  CHECK(shapeOf(commandId("monitor")) == Shape::kStream);
  CHECK(shapeOf(commandId("info")) == Shape::kInfo);
  CHECK(shapeOf(commandId("set")) == Shape::kForward);
  CHECK(shapeOf(commandId("blpop")) == Shape::kForward);
  CHECK(shapeOf(commandId("flushall")) == Shape::kForward);
  CHECK(shapeOf(Cmd::kOther) == Shape::kForward);
}
