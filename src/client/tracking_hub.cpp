// The tracking hub (see tracking_hub.h). The commands' parsing, checks and errors follow Redis 7.0's
// clientCommand (networking.c); delivery follows tracking.c's sendTrackingMessage.
#include "src/client/tracking_hub.h"

#include <algorithm>

#include "resp/commands.h"
#include "resp/reply.h"

namespace rcp::client {

namespace {
using resp::equalsIgnoreCase;
using Flag = TrackingHub::Client::Flag;

constexpr std::string_view kInvalidate3 = ">2\r\n$10\r\ninvalidate\r\n";
constexpr std::string_view kInvalidate2 = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";

// One prefix is a prefix of the other (Redis's stringCheckPrefix).
bool overlap(std::string_view a, std::string_view b) noexcept {
  size_t n = std::min(a.size(), b.size());
  return a.substr(0, n) == b.substr(0, n);
}

void appendKeys(std::string& out, const std::vector<std::string>& keys) {
  resp::appendArrayHeader(out, static_cast<long long>(keys.size()));
  for (const std::string& k : keys) resp::appendBulk(out, k);
}
}  // namespace

TrackingHub::~TrackingHub() = default;

void TrackingHub::leave(Client& c) {
  disable(c);
  peers_.erase(c.id);
  if (writer_ == &c) {
    writer_ = nullptr;
    deferred_.clear();
  }
}

// --- the commands

bool TrackingHub::command(Client& c, const std::vector<std::string_view>& args, int proto, std::string& out) {
  if (args.size() < 2) return false;
  std::string_view sub = args[1];
  if (equalsIgnoreCase(sub, "TRACKING") && args.size() >= 3) return trackingCommand(c, args, out);
  if (equalsIgnoreCase(sub, "CACHING") && args.size() >= 3) {
    if (!c.on()) {
      resp::appendError(out, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or "
                             "OPTOUT mode enabled");
    } else if (bool yes = equalsIgnoreCase(args[2], "YES"); yes || equalsIgnoreCase(args[2], "NO")) {
      // YES is OPTIN's, NO is OPTOUT's: either sets the flag for the next command.
      if (!c.has(yes ? Flag::kOptin : Flag::kOptout)) {
        resp::appendError(out, yes ? "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
                                   : "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        return true;
      }
      c.flags |= Flag::kCaching;
      resp::appendSimple(out, "OK");
    } else {
      resp::appendError(out, "ERR syntax error");
    }
    return true;
  }
  if (equalsIgnoreCase(sub, "GETREDIR") && args.size() == 2) {
    resp::appendInteger(out, c.on() ? static_cast<long long>(c.redirect) : -1);
    return true;
  }
  if (equalsIgnoreCase(sub, "TRACKINGINFO") && args.size() == 2) {
    trackingInfo(c, proto, out);
    return true;
  }
  return false;
}

bool TrackingHub::trackingCommand(Client& c, const std::vector<std::string_view>& args, std::string& out) {
  uint64_t redirect = 0;
  bool redirect_given = false;
  uint16_t options = 0;
  std::vector<std::string_view> prefixes;
  for (size_t j = 3; j < args.size(); ++j) {
    bool more = j + 1 < args.size();
    std::string_view a = args[j];
    if (equalsIgnoreCase(a, "REDIRECT") && more) {
      ++j;
      if (redirect_given) {
        resp::appendError(out, "ERR A client can only redirect to a single other client");
        return true;
      }
      long long id = 0;
      if (!resp::parseInteger(args[j], &id)) {
        resp::appendError(out, "ERR value is not an integer or out of range");
        return true;
      }
      if (id <= 0 || peers_.find(static_cast<uint64_t>(id)) == peers_.end()) {
        resp::appendError(out, "ERR The client ID you want redirect to does not exist");
        return true;
      }
      redirect = static_cast<uint64_t>(id);
      redirect_given = true;
    } else if (equalsIgnoreCase(a, "BCAST")) {
      options |= Flag::kBcast;
    } else if (equalsIgnoreCase(a, "OPTIN")) {
      options |= Flag::kOptin;
    } else if (equalsIgnoreCase(a, "OPTOUT")) {
      options |= Flag::kOptout;
    } else if (equalsIgnoreCase(a, "NOLOOP")) {
      options |= Flag::kNoloop;
    } else if (equalsIgnoreCase(a, "PREFIX") && more) {
      prefixes.push_back(args[++j]);
    } else {
      resp::appendError(out, "ERR syntax error");
      return true;
    }
  }
  if (equalsIgnoreCase(args[2], "OFF")) {
    disable(c);
    resp::appendSimple(out, "OK");
    return true;
  }
  if (!equalsIgnoreCase(args[2], "ON")) {
    resp::appendError(out, "ERR syntax error");
    return true;
  }
  auto refuse = [&out](std::string_view why) {
    resp::appendError(out, why);
    return true;
  };
  if (!(options & Flag::kBcast) && !prefixes.empty()) return refuse("ERR PREFIX option requires BCAST mode to be enabled");
  if (c.on() && c.has(Flag::kBcast) != ((options & Flag::kBcast) != 0))
    return refuse("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then "
                  "re-enabling it with a different mode.");
  if ((options & Flag::kBcast) && (options & (Flag::kOptin | Flag::kOptout)))
    return refuse("ERR OPTIN and OPTOUT are not compatible with BCAST");
  if ((options & Flag::kOptin) && (options & Flag::kOptout)) return refuse("ERR You can't specify both OPTIN mode and OPTOUT mode");
  if (((options & Flag::kOptin) && c.has(Flag::kOptout)) || ((options & Flag::kOptout) && c.has(Flag::kOptin)))
    return refuse("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then "
                  "re-enabling it with a different mode.");
  if (options & Flag::kBcast) {
    for (size_t i = 0; i < prefixes.size(); ++i) {
      for (const std::string& have : c.prefixes) {
        if (overlap(have, prefixes[i]))
          return refuse("ERR Prefix '" + resp::oneLine(prefixes[i]) + "' overlaps with an existing prefix '" +
                        resp::oneLine(have) + "'. Prefixes for a single client must not overlap.");
      }
      for (size_t j = i + 1; j < prefixes.size(); ++j) {
        if (overlap(prefixes[i], prefixes[j]))
          return refuse("ERR Prefix '" + resp::oneLine(prefixes[i]) + "' overlaps with another provided prefix '" +
                        resp::oneLine(prefixes[j]) + "'. Prefixes for a single client must not overlap.");
      }
    }
    size_t total = c.prefixes.size() + (prefixes.empty() ? 1 : prefixes.size());  // none given: ""
    if (total > config_.tracking_max_prefixes)
      return refuse("ERR too many tracking prefixes for one client (--tracking-max-prefixes " +
                    std::to_string(config_.tracking_max_prefixes) + ")");
  }
  std::string why;
  if (ready_ && !ready_(&why)) {
    ++stats_.refused;
    return refuse("ERR CLIENT TRACKING through the proxy needs the proxy's own tracking of Redis: " + why);
  }
  enable(c, redirect, options, prefixes);
  resp::appendSimple(out, "OK");
  return true;
}

void TrackingHub::trackingInfo(const Client& c, int proto, std::string& out) const {
  std::vector<std::string_view> flags{c.on() ? "on" : "off"};
  if (c.has(Flag::kBcast)) flags.push_back("bcast");
  if (c.has(Flag::kOptin)) {
    flags.push_back("optin");
    if (c.has(Flag::kCaching)) flags.push_back("caching-yes");
  }
  if (c.has(Flag::kOptout)) {
    flags.push_back("optout");
    if (c.has(Flag::kCaching)) flags.push_back("caching-no");
  }
  if (c.has(Flag::kNoloop)) flags.push_back("noloop");
  if (c.has(Flag::kBrokenRedir)) flags.push_back("broken_redirect");
  resp::appendMapHeader(out, 3, proto);
  resp::appendBulk(out, "flags");
  resp::appendSetHeader(out, static_cast<long long>(flags.size()), proto);
  for (std::string_view f : flags) resp::appendBulk(out, f);
  resp::appendBulk(out, "redirect");
  resp::appendInteger(out, c.on() ? static_cast<long long>(c.redirect) : -1);
  resp::appendBulk(out, "prefixes");
  std::vector<std::string> sorted = c.prefixes;  // Redis lists them from its radix tree: in byte order
  std::sort(sorted.begin(), sorted.end());
  appendKeys(out, sorted);
}

void TrackingHub::enable(Client& c, uint64_t redirect, uint16_t options, const std::vector<std::string_view>& prefixes) {
  if (!c.on()) {
    ++tracking_;
    ++stats_.enabled;
    c.held = Client::Held::kNothing;
  }
  c.flags |= Flag::kOn;
  c.flags &= static_cast<uint16_t>(~(Flag::kBrokenRedir | Flag::kBcast | Flag::kOptin | Flag::kOptout | Flag::kNoloop));
  c.redirect = redirect;
  if (options & Flag::kBcast) {
    c.flags |= Flag::kBcast;
    std::vector<std::string_view> add = prefixes;
    if (add.empty()) add.emplace_back();
    bool changed = false;
    for (std::string_view p : add) {
      if (std::find(c.prefixes.begin(), c.prefixes.end(), p) != c.prefixes.end()) continue;
      c.prefixes.emplace_back(p);
      auto [it, fresh] = prefix_table_.try_emplace(std::string(p));
      it->second.ids.push_back(c.id);
      changed |= fresh;
    }
    if (changed) {
      uncovered_.push_back(c.id);
      prefixesChanged();
    }
  }
  c.flags |= options & (Flag::kOptin | Flag::kOptout | Flag::kNoloop);
}

void TrackingHub::disable(Client& c) {
  if (c.has(Flag::kBcast)) {
    bool changed = false;
    for (const std::string& p : c.prefixes) {
      auto it = prefix_table_.find(p);
      if (it == prefix_table_.end()) continue;
      auto& ids = it->second.ids;
      ids.erase(std::remove(ids.begin(), ids.end(), c.id), ids.end());
      if (ids.empty()) {
        prefix_table_.erase(it);
        changed = true;
      }
    }
    c.prefixes.clear();
    if (changed) prefixesChanged();
  }
  if (c.on()) {
    --tracking_;
    c.flags = 0;
    if (tracking_ == 0) {  // nobody to tell: what the table remembers is of no use
      keys_.clear();
      oldest_ = newest_ = nullptr;
    }
  }
}

void TrackingHub::prefixesChanged() {
  if (!prefixes_changed_) return;
  std::vector<std::string> all;
  all.reserve(prefix_table_.size());
  for (const auto& [p, e] : prefix_table_) all.push_back(p);
  std::sort(all.begin(), all.end());
  prefixes_changed_(all);
}

// --- the table

void TrackingHub::remember(uint64_t id, std::string_view key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    it = keys_.emplace(std::string(key), KeyEntry{}).first;
    KeyEntry& e = it->second;
    e.key = &it->first;
    e.older = newest_;
    (newest_ != nullptr ? newest_->newer : oldest_) = &e;
    newest_ = &e;
    e.ids.push_back(id);
    size_t max = config_.tracking_table_max_keys;
    // Over the limit: the oldest keys are invalidated for their readers (who then ask again).
    while (max != 0 && keys_.size() > max && oldest_ != &e) {
      KeyEntry* old = oldest_;
      std::vector<uint64_t> ids = std::move(old->ids);
      std::string k = *old->key;
      unlink(old);
      keys_.erase(k);
      ++stats_.evicted_keys;
      notifyKey(ids, k);
    }
    return;
  }
  KeyEntry& e = it->second;
  if (e.many != nullptr) {
    if (e.many->insert(id).second) e.ids.push_back(id);
    return;
  }
  if (std::find(e.ids.begin(), e.ids.end(), id) != e.ids.end()) return;
  e.ids.push_back(id);
  if (e.ids.size() > kLinearIds) e.many = std::make_unique<std::unordered_set<uint64_t>>(e.ids.begin(), e.ids.end());
}

void TrackingHub::unlink(KeyEntry* e) noexcept {
  (e->older != nullptr ? e->older->newer : oldest_) = e->newer;
  (e->newer != nullptr ? e->newer->older : newest_) = e->older;
}

void TrackingHub::keyChanged(std::string_view key, bool by_client) {
  if (tracking_ == 0) return;
  stamp();
  if (!by_client && !prefix_table_.empty()) {
    // BCAST: what Redis reports under a prefix (a write through the proxy is reported by Redis too).
    for (auto& [p, e] : prefix_table_) {
      if (key.substr(0, p.size()) != p) continue;
      if (e.pending_set.emplace(key).second) e.pending.emplace_back(key);
      bcast_pending_ = true;
    }
  }
  if (keys_.empty()) return;
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  std::vector<uint64_t> ids = std::move(it->second.ids);
  std::string k = it->first;
  unlink(&it->second);
  keys_.erase(it);
  notifyKey(ids, k);
}

void TrackingHub::notifyKey(const std::vector<uint64_t>& ids, const std::string& key) {
  scratch_.clear();
  resp::appendArrayHeader(scratch_, 1);
  resp::appendBulk(scratch_, key);
  std::string payload = scratch_;
  for (uint64_t id : ids) {
    auto p = peers_.find(id);
    if (p == peers_.end()) continue;
    Client& c = *p->second;
    if (!c.on() || c.has(Flag::kBcast)) continue;
    if (c.has(Flag::kNoloop) && &c == writer_) continue;
    send(c, &payload, false);
  }
}

void TrackingHub::allChanged() {
  if (tracking_ == 0) return;
  stamp();
  keys_.clear();
  oldest_ = newest_ = nullptr;
  for (auto& [p, e] : prefix_table_) {
    e.pending.clear();
    e.pending_set.clear();
  }
  bcast_pending_ = false;
  for (auto& [id, c] : peers_) {
    if (!c->on() || c->held == Client::Held::kFlushed) continue;
    c->held = Client::Held::kFlushed;
    send(*c, nullptr, true);
  }
}

void TrackingHub::nullFor(const std::vector<uint64_t>& ids) {
  stamp();
  for (uint64_t id : ids) {
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second->on() || it->second->held == Client::Held::kFlushed) continue;
    it->second->held = Client::Held::kFlushed;
    send(*it->second, nullptr, true);
  }
}

void TrackingHub::flush() {
  if (!bcast_pending_) return;
  bcast_pending_ = false;
  for (auto& [p, e] : prefix_table_) {
    if (e.pending.empty()) continue;
    std::sort(e.pending.begin(), e.pending.end());  // Redis sends them from its radix tree: in byte order
    scratch_.clear();
    appendKeys(scratch_, e.pending);
    std::string payload = scratch_;
    e.pending.clear();
    e.pending_set.clear();
    for (uint64_t id : e.ids) {
      auto it = peers_.find(id);
      if (it != peers_.end() && it->second->on()) send(*it->second, &payload, false);
    }
  }
}

void TrackingHub::bcastCovered() {
  std::vector<uint64_t> ids = std::move(uncovered_);
  uncovered_.clear();
  for (uint64_t id : ids) {
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second->has(Flag::kBcast) || it->second->held != Client::Held::kReads) continue;
    it->second->held = Client::Held::kFlushed;  // it read before its prefix was covered
    send(*it->second, nullptr, true);
  }
}

// --- delivery

void TrackingHub::send(Client& c, const std::string* keys, bool null) {
  if (&c == writer_) {
    deferred_.push_back(null ? std::string() : *keys);
    return;
  }
  // A null is Redis's null in the tracking client's own protocol, wherever it is delivered.
  std::string_view payload = null ? (c.peer->trackingProto() >= 3 ? std::string_view("_\r\n") : "$-1\r\n")
                                  : std::string_view(*keys);
  ++stats_.invalidations;
  stats_.null_messages += null ? 1 : 0;
  deliver(c, payload);
}

void TrackingHub::deliver(Client& c, std::string_view payload) {
  Client* target = &c;
  bool redirected = c.redirect != 0;
  if (redirected) {
    auto it = peers_.find(c.redirect);
    if (it == peers_.end()) {
      c.flags |= Flag::kBrokenRedir;
      if (c.peer->trackingProto() >= 3) {
        scratch_.assign(">2\r\n$21\r\ntracking-redir-broken\r\n");
        resp::appendInteger(scratch_, static_cast<long long>(c.redirect));
        ++stats_.redir_broken;
        c.peer->trackingPush(scratch_);
      }
      return;
    }
    target = it->second;
  }
  if (target->peer->trackingProto() >= 3) {
    scratch_.assign(kInvalidate3);
    scratch_.append(payload);
  } else if (redirected && target->peer->trackingSubscribed()) {
    scratch_.assign(kInvalidate2);
    scratch_.append(payload);
  } else {
    return;  // RESP2 without a subscribed redirect target: nowhere to say it (as in Redis)
  }
  stamp();  // BCAST batches and evictions: from when they are sent
  ++unsent_;
  target->peer->trackingPush(scratch_);
}

void TrackingHub::endWrite() {
  Client* w = std::exchange(writer_, nullptr);
  if (w == nullptr || deferred_.empty()) return;
  std::vector<std::string> pending = std::move(deferred_);
  deferred_.clear();
  for (const std::string& d : pending) send(*w, &d, d.empty());
}

}  // namespace rcp::client
