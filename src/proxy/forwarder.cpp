// Forwarded commands (see forwarder.h).
#include "src/proxy/forwarder.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <memory>
#include <utility>

#include "resp/key_slot.h"
#include "resp/reply.h"

namespace rcp::proxy {

class Forwarder::Forward final : public backend::Request {
 public:
  explicit Forward(Forwarder& owner) : owner_(owner) {}

  void encode(std::string& out) const override { out.append(command); }

  void onReply(const resp::Frame& reply) override {
    invalidateAfter();
    Lookup r;
    r.kind = Lookup::Kind::kReply;
    r.frame = &reply;
    finish(r);
  }

  void onFailure(backend::Failure why, std::string_view detail) override {
    invalidateAfter();
    Lookup r;
    std::string refused;
    if (why == backend::Failure::kTooLarge) {  // Redis answered; the proxy refused the reply
      resp::appendError(refused, "ERR " + std::string(detail));
      r.kind = Lookup::Kind::kEncoded;
      r.message = refused;
    } else {
      r.kind = why == backend::Failure::kTimeout ? Lookup::Kind::kTimeout : Lookup::Kind::kUnavailable;
      r.message = detail;
    }
    finish(r);
  }

  void reset() noexcept {
    command.clear();
    waiter = nullptr;
    after.clear();
    deadline_ms = sent_ns = sent_ms = 0;
    retries = 0;
  }

  std::string command;  // the request in RESP
  Waiter* waiter = nullptr;
  After after;

 private:
  void invalidateAfter() {
    if (after.all) owner_.read_through_.dropAllWritten();
    after.forEach([this](std::string_view k) { owner_.read_through_.dropWritten(k); });
  }
  void finish(const Lookup& r) {
    Waiter* w = waiter;
    owner_.done(this);  // first: the waiter may forward again from inside onResult
    w->onResult(r);
  }

  Forwarder& owner_;
};

// One command in parts (see Combine): each part a request of its own; when the last has answered,
// the waiter gets the combined reply. Frees itself.
class Forwarder::Split final {
 public:
  class Part final : public backend::Request {
   public:
    Part(Split& owner, size_t index) : owner_(owner), index_(index) {}
    void encode(std::string& out) const override { out.append(command); }
    void onReply(const resp::Frame& reply) override { owner_.gotReply(*this, reply.root()); }
    void onFailure(backend::Failure why, std::string_view detail) override { owner_.gotFailure(why, detail); }
    std::string command;
    std::vector<uint32_t> keys;  // kByKey: the indexes (in the client's command) of the keys it asked for
    size_t index() const noexcept { return index_; }

   private:
    Split& owner_;
    size_t index_;
  };

  uint64_t scan_node = 0, scan_nodes = 0;  // kScan: the node asked, and how many there are

  Split(Forwarder& owner, Combine how, Waiter& w, size_t nkeys) : owner_(owner), how_(how), waiter_(&w) {
    if (how == Combine::kByKey) values_.resize(nkeys);
  }

  std::vector<std::unique_ptr<Part>> parts;
  After after;

  void start(size_t n) { left_ = n; errors_.resize(n); concat_.resize(how_ == Combine::kConcat ? n : 0); }

 private:
  void gotReply(Part& p, const resp::FrameView& r) {
    using T = resp::FrameType;
    if (r.type() == T::kError || r.type() == T::kBlobError) {
      r.encode(errors_[p.index()]);  // the first part's error (in part order) is the reply
    } else {
      switch (how_) {
        case Combine::kSum:
          if (r.type() == T::kInteger) sum_ += r.integer();
          else bad_ = true;
          break;
        case Combine::kAllOk:
          if (r.type() != T::kSimple) bad_ = true;
          break;
        case Combine::kByKey:
        case Combine::kConcat: {
          if (r.type() != T::kArray && r.type() != T::kSet) {
            bad_ = true;
            break;
          }
          size_t n = r.size();
          if (how_ == Combine::kByKey && n != p.keys.size()) {
            bad_ = true;
            break;
          }
          if (n == 0) break;
          resp::FrameView e = r[0];
          for (size_t i = 0; i < n; ++i, e = i < n ? e.next() : e) {
            if (how_ == Combine::kByKey) {
              e.encode(values_[p.keys[i]]);
            } else {
              e.encode(concat_[p.index()]);
              ++concat_n_;
            }
          }
          break;
        }
        case Combine::kFirst:
          if (p.index() == 0) r.encode(first_);
          break;
        case Combine::kScan: scanPage(r); break;
      }
    }
    partDone();
  }
  // A node's SCAN page [cursor, keys] with the cursor made the client's: the next page of this
  // node, or the first of the next node, or 0 after the last node's last page.
  void scanPage(const resp::FrameView& r) {
    using T = resp::FrameType;
    if (r.type() != T::kArray || r.size() != 2 || r[0].type() != T::kBulk) {
      bad_ = true;
      return;
    }
    std::string_view c = r[0].str();
    uint64_t next = 0;
    auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), next);
    if (ec != std::errc() || end != c.data() + c.size() || next >> kScanNodeShift != 0) {
      bad_ = true;
      return;
    }
    uint64_t cursor = next != 0                      ? (scan_node << kScanNodeShift) | next
                      : scan_node + 1 < scan_nodes ? (scan_node + 1) << kScanNodeShift
                                                   : 0;
    resp::appendArrayHeader(first_, 2);
    resp::appendBulk(first_, std::to_string(cursor));
    r[1].encode(first_);
  }

  void gotFailure(backend::Failure why, std::string_view detail) {
    if (!failed_) {
      failed_ = true;
      timeout_ = why == backend::Failure::kTimeout;
      failure_.assign(detail);
    }
    partDone();
  }
  void partDone() {
    if (--left_ > 0) return;
    ReadThrough& rt = owner_.read_through_;
    if (after.all) rt.dropAllWritten();
    after.forEach([&rt](std::string_view k) { rt.dropWritten(k); });
    Lookup res;
    std::string out;  // the message views it: it outlives this object, freed before the waiter runs
    if (failed_) {
      res.kind = timeout_ ? Lookup::Kind::kTimeout : Lookup::Kind::kUnavailable;
      out = std::move(failure_);
      res.message = out;
    } else {
      res.kind = Lookup::Kind::kEncoded;
      for (const std::string& e : errors_) {
        if (!e.empty()) {
          out = e;
          break;
        }
      }
      if (out.empty() && bad_) resp::appendError(out, "ERR unexpected reply from Redis to a command split over cluster nodes");
      if (out.empty()) {
        switch (how_) {
          case Combine::kSum: out = ":" + std::to_string(sum_) + "\r\n"; break;
          case Combine::kAllOk: out = "+OK\r\n"; break;
          case Combine::kByKey:
            resp::appendArrayHeader(out, static_cast<long long>(values_.size()));
            for (const std::string& v : values_) out.append(v);
            break;
          case Combine::kConcat:
            resp::appendArrayHeader(out, static_cast<long long>(concat_n_));
            for (const std::string& v : concat_) out.append(v);
            break;
          case Combine::kFirst:
          case Combine::kScan: out = std::move(first_); break;
        }
      }
      res.message = out;
    }
    Waiter* w = waiter_;
    --owner_.live_splits_;
    delete this;  // first: the waiter may forward again from inside onResult
    w->onResult(res);
  }

  Forwarder& owner_;
  Combine how_;
  Waiter* waiter_;
  size_t left_ = 0;
  long long sum_ = 0;
  bool bad_ = false;
  bool failed_ = false;
  bool timeout_ = false;
  std::string failure_;
  std::vector<std::string> errors_;  // by part
  std::vector<std::string> values_;  // kByKey: by key
  std::vector<std::string> concat_;  // kConcat: by part
  size_t concat_n_ = 0;
  std::string first_;
};

void Forwarder::forwardSplit(backend::Upstream& to, std::span<const std::string_view> args, size_t step, Combine how,
                             Waiter& w, uint64_t timeout_ms, After* after) {
  size_t nkeys = (args.size() - 1) / step;
  auto* s = new Split(*this, how, w, nkeys);
  ++live_splits_;
  ++stats_.split;
  if (after != nullptr) std::swap(s->after, *after);
  slots_.resize(nkeys);
  for (size_t k = 0; k < nkeys; ++k) slots_[k] = resp::keySlot(args[1 + k * step]);
  groups_.build(slots_);
  std::vector<std::string_view> part_args;
  for (const SlotGroups::Group& g : groups_.groups) {
    auto p = std::make_unique<Split::Part>(*s, s->parts.size());
    part_args.assign(1, args[0]);
    for (uint32_t k : groups_.of(g))
      for (size_t j = 0; j < step; ++j) part_args.push_back(args[1 + k * step + j]);
    resp::appendCommand(p->command, part_args);
    p->keys.assign(groups_.of(g).begin(), groups_.of(g).end());
    p->slot = g.slot;
    p->timeout_ms = timeout_ms;
    s->parts.push_back(std::move(p));
  }
  stats_.split_parts += s->parts.size();
  s->start(s->parts.size());
  // Submitted after every part exists: none completes inside submit (the upstream's contract).
  for (auto& p : s->parts) to.submit(p.get());
}

bool Forwarder::forwardScan(backend::Upstream& to, std::span<const std::string_view> args, Waiter& w,
                            uint64_t timeout_ms) {
  uint64_t cursor = 0;
  auto [end, ec] = std::from_chars(args[1].data(), args[1].data() + args[1].size(), cursor);
  std::vector<backend::NodeId> nodes = to.primaries();
  uint64_t node = cursor >> kScanNodeShift;
  if (ec != std::errc() || end != args[1].data() + args[1].size() || node >= nodes.size()) return false;
  auto* s = new Split(*this, Combine::kScan, w, 0);
  ++live_splits_;
  ++stats_.split;
  s->scan_node = node;
  s->scan_nodes = nodes.size();
  std::string own = std::to_string(cursor & ((uint64_t{1} << kScanNodeShift) - 1));
  std::vector<std::string_view> a(args.begin(), args.end());
  a[1] = own;
  auto p = std::make_unique<Split::Part>(*s, 0);
  resp::appendCommand(p->command, a);
  p->timeout_ms = timeout_ms;
  s->parts.push_back(std::move(p));
  ++stats_.split_parts;
  s->start(1);
  to.submitTo(nodes[node], s->parts[0].get());
  return true;
}

void Forwarder::forwardAll(backend::Upstream& to, std::span<const std::string_view> args, Combine how, Waiter& w,
                           uint64_t timeout_ms, After* after) {
  std::vector<backend::NodeId> nodes = to.primaries();
  if (nodes.empty()) nodes.push_back(0);  // no node known: the part fails, and with it the command
  auto* s = new Split(*this, how, w, 0);
  ++live_splits_;
  ++stats_.split;
  if (after != nullptr) std::swap(s->after, *after);
  std::string command;
  resp::appendCommand(command, args);
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto p = std::make_unique<Split::Part>(*s, i);
    p->command = command;
    p->timeout_ms = timeout_ms;
    s->parts.push_back(std::move(p));
  }
  stats_.split_parts += s->parts.size();
  s->start(s->parts.size());
  for (size_t i = 0; i < nodes.size(); ++i) to.submitTo(nodes[i], s->parts[i].get());
}

Forwarder::Forwarder(ReadThrough& read_through) : read_through_(read_through) {}

Forwarder::~Forwarder() {
  assert(live_ == 0 && live_splits_ == 0);
  for (Forward* f : free_) delete f;
}

void Forwarder::forward(backend::Target& to, std::span<const std::string_view> args, Waiter& w, uint64_t timeout_ms,
                        After* after, std::string_view raw, int32_t slot) {
  Forward* f;
  if (free_.empty()) {
    f = new Forward(*this);
  } else {
    f = free_.back();
    free_.pop_back();
  }
  ++live_;
  if (raw.empty()) resp::appendCommand(f->command, args);
  else f->command.assign(raw);
  f->waiter = &w;
  f->timeout_ms = timeout_ms;
  f->slot = slot;
  if (after != nullptr) {
    // f's buffers are empty (a pooled request's are cleared): the caller gets them back to reuse
    f->after.bytes.swap(after->bytes);
    f->after.ends.swap(after->ends);
    f->after.all = std::exchange(after->all, false);
  }
  ++stats_.forwarded;
  to.submit(f);
}

void Forwarder::done(Forward* f) noexcept {
  --live_;
  if (free_.size() >= kMaxFree || f->command.capacity() > kMaxKeptCommandBytes) {
    delete f;
    return;
  }
  f->reset();
  free_.push_back(f);
}

}  // namespace rcp::proxy
