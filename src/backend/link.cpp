// One connection to Redis (see link.h).
#include "src/backend/link.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <utility>

#include "resp/reply.h"

namespace rcp::backend {

// A handshake command (AUTH, SELECT): an ordinary request owned by the link. An error reply means
// Redis refused the connection's set-up, which fails the link.
class Link::HandshakeStep final : public Request {
 public:
  HandshakeStep(Link& link, const std::vector<std::string>& command) : link_(link), command_(command) {}
  void encode(std::string& out) const override {
    std::vector<std::string_view> args(command_.begin(), command_.end());
    resp::appendCommand(out, args);
  }
  void onReply(const resp::Frame& reply) override {
    resp::FrameView r = reply.root();
    bool role = command_.size() == 1 && command_[0] == "ROLE";
    if (command_.size() == 2 && command_[0] == "CLIENT" && command_[1] == "ID") {
      // The connection's id on Redis (a pinned one's: CLIENT UNBLOCK names it); refused, unknown.
      if (r.type() == resp::FrameType::kInteger) link_.client_id_ = r.integer();
      link_.handshakeDone();
      return;
    }
    // ROLE (a Sentinel-found primary): a node that is not the primary is not used, on any
    // connection. A ROLE an ACL refuses (NOPERM) cannot tell: the Sentinels' word stands; any other
    // error (not a Redis at all, a proxy in front of nothing) fails the link.
    if (r.type() == resp::FrameType::kError && !(role && r.str().starts_with("NOPERM"))) {
      link_.fail(Failure::kUnavailable, "handshake refused by Redis: " + std::string(r.str()));
      return;
    }
    if (role && r.type() == resp::FrameType::kArray && r.size() >= 1 && r[0].type() == resp::FrameType::kBulk &&
        r[0].str() != "master") {
      link_.fail(Failure::kUnavailable, "the node is not the primary (ROLE: " + std::string(r[0].str()) + ")");
      return;
    }
    link_.handshakeDone();
  }
  void onFailure(Failure, std::string_view) override {}  // the link is failing already

 private:
  Link& link_;
  const std::vector<std::string>& command_;
};

LinkOptions LinkOptions::fromRedis(const std::string& host, uint16_t port, const std::string& user,
                                   const std::string& password, int db, uint64_t connect_timeout_ms,
                                   size_t max_reply_bytes, bool resp3, uint64_t min_reply_rate) {
  LinkOptions o;
  o.min_reply_rate = min_reply_rate;
  o.host = host;
  o.port = port;
  o.connect_timeout_ms = connect_timeout_ms;
  o.max_reply_bytes = max_reply_bytes;
  o.resp3 = resp3;
  if (resp3) {
    std::vector<std::string> hello{"HELLO", "3"};
    if (!password.empty()) hello.insert(hello.end(), {"AUTH", user.empty() ? "default" : user, password});
    o.handshake.push_back(std::move(hello));
  } else if (!password.empty()) {
    if (user.empty()) o.handshake.push_back({"AUTH", password});
    else o.handshake.push_back({"AUTH", user, password});
  }
  if (db != 0) o.handshake.push_back({"SELECT", std::to_string(db)});
  // A link is up once Redis has answered: a connect that lands in the backlog of a Redis that is
  // going away (killed, restarting) is accepted by the kernel and reset a moment later, and must
  // not count as a working link (nor take the one resend a lost link's reads get).
  if (o.handshake.empty()) o.handshake.push_back({"PING"});
  return o;
}

void LinkOptions::requirePrimary() {
  if (handshake.size() == 1 && handshake[0].size() == 1 && handshake[0][0] == "PING") handshake.clear();
  handshake.push_back({"ROLE"});
}

namespace {
bool isUnixPath(const std::string& host) { return !host.empty() && host[0] == '/'; }
}  // namespace

Link::Link(Loop& loop, const LinkOptions& options, LinkOwner& owner, UpstreamStats& stats, LatencyHistogram& latency)
    : loop_(loop), options_(options), owner_(&owner), stats_(stats), latency_(latency),
      stream_(loop, *this, isUnixPath(options.host) ? net::Stream::Kind::kUnix : net::Stream::Kind::kTcp),
      reader_(&Link::takeBulk, this, options.max_reply_bytes) {
  resolve_req_.data = this;
  reader_.setResp2Only(!options.resp3);
  reader_.setNull3OnResp2(options.null3);
  if (options.tls != nullptr && options.tls->enabled()) {
    net::TlsEndpoint& t = *options.tls;
    const std::string& name = t.server_name.empty() ? options.host : t.server_name;
    stream_.startTls(t.ctx(), net::TlsChannel::Role::kClient, t.stats, name, t.verify_name);
  }
}

Link::~Link() { assert(state_ == State::kClosed && callbacks_ == 0 && fifo_.empty()); }

void Link::open() {
  assert(state_ == State::kResolving);
  deadline_ms_ = loop_.nowMs() + options_.connect_timeout_ms;
  if (options_.host.empty()) {  // a Sentinel-found primary not known yet (a pinned connection)
    open_error_ = "no confirmed primary: the Sentinels name none, or it is being replaced";
    deadline_ms_ = 0;
    return;
  }
  if (stream_.kind() == net::Stream::Kind::kUnix) {
    stream_.connect(options_.host);  // no name to resolve
    state_ = State::kConnecting;
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(options_.port);
  int rc = uv_getaddrinfo(loop_.uv(), &resolve_req_,
                          [](uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
                            static_cast<Link*>(req->data)->onResolved(status, res);
                          },
                          options_.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    open_error_ = std::string("resolve: ") + uv_strerror(rc);  // reported by the next deadline check
    deadline_ms_ = 0;
    return;
  }
  ++callbacks_;
}

void Link::onResolved(int status, addrinfo* res) {
  --callbacks_;
  if (state_ == State::kClosed) {
    uv_freeaddrinfo(res);
    released();
    return;
  }
  if (status != 0 || res == nullptr) {
    uv_freeaddrinfo(res);
    fail(Failure::kUnavailable, "cannot resolve " + options_.host + ": " + uv_strerror(status));
    return;
  }
  int rc = stream_.connect(res->ai_addr);
  uv_freeaddrinfo(res);
  if (rc != 0) {
    fail(Failure::kUnavailable, std::string("connect: ") + uv_strerror(rc));
    return;
  }
  state_ = State::kConnecting;
}

void Link::onStreamConnected(int status) {
  if (state_ == State::kClosed) return;
  if (status != 0) {
    std::string where = stream_.kind() == net::Stream::Kind::kUnix
                            ? options_.host
                            : options_.host + ":" + std::to_string(options_.port);
    fail(Failure::kUnavailable, "connect to " + where + ": " + uv_strerror(status));
    return;
  }
  connected_ = true;
  // A TLS link reads its handshake whatever the owner's back-pressure: nothing is delivered to
  // the owner before the Redis handshake anyway.
  int rc = paused_ && !stream_.tls() ? 0 : startReading();
  if (rc != 0) {
    fail(Failure::kUnavailable, std::string("read: ") + uv_strerror(rc));
    return;
  }
  startHandshake();
}

void Link::onStreamEstablished() {
  if (state_ == State::kClosed) return;
  if (paused_) stream_.readStop();
  flush();  // the Redis handshake (and what queued behind it) was waiting for TLS
}

void Link::startHandshake() {
  // The handshake goes first, in front of anything the owner sends once the link accepts. Over
  // TLS it is queued now and written once the TLS handshake is done (flush() waits for it).
  assert(fifo_.empty());
  state_ = State::kHandshake;
  deadline_ms_ = loop_.nowMs() + options_.connect_timeout_ms;
  for (const auto& command : options_.handshake) {
    handshake_.push_back(std::make_unique<HandshakeStep>(*this, command));
    handshake_.back()->encode(out_);
    fifo_.push_back(handshake_.back().get());
    ++requests_;
  }
  handshake_left_ = handshake_.size();
  loop_.requestTurnEnd();
  if (handshake_left_ == 0) handshakeDone();
  else owner_->onLinkReplies(*this);  // requests may queue behind the handshake now
}

int Link::startReading() { return stream_.readStart(); }

void Link::handshakeDone() {
  if (handshake_left_ > 0) --handshake_left_;
  if (handshake_left_ > 0 || state_ != State::kHandshake) return;
  state_ = State::kUp;
  deadline_ms_ = 0;
  owner_->onLinkUp(*this);
}

void Link::send(Request* r) {
  assert(accepting());
  r->encode(out_);
  r->sent_ns = uv_hrtime();
  r->sent_ms = loop_.nowMs();
  r->deadline_ms = r->timeout_ms == 0 ? 0 : r->sent_ms + r->timeout_ms;
  r->replies_read = 0;
  if (fifo_.empty()) head_since_ms_ = r->sent_ms;
  for (unsigned i = r->replies(); i > 0; --i) fifo_.push_back(r);  // one entry per reply it awaits
  ++requests_;
  ++stats_.requests;
  loop_.requestTurnEnd();
}

std::string Link::localAddress() const { return stream_.localAddress(); }

void Link::sendRaw(std::string_view bytes) {
  assert(accepting());
  out_.append(bytes);
  loop_.requestTurnEnd();
}

void Link::pauseReading(bool paused) {
  if (paused == paused_ || state_ == State::kClosed) return;
  paused_ = paused;
  if (state_ != State::kHandshake && state_ != State::kUp) return;  // reading starts paused if asked
  // What was already read is still delivered (one read buffer at most): only further reads stop.
  if (!stream_.ready()) return;  // TLS keeps reading its handshake; the pause applies once it is done
  if (paused) stream_.readStop();
  else startReading();
}

bool Link::cancel(Request* r) noexcept {
  bool found = false;
  for (Request*& q : fifo_) {
    if (q == r) {
      q = nullptr;  // its reply (each of them) is still coming: read it, then drop it
      found = true;
    }
  }
  if (found) --requests_;
  return found;
}

void Link::flush() {
  // Not before the stream can carry plaintext (TLS shaking hands), nor over a write in flight.
  if (out_.empty() || write_active_ || !accepting() || !connected_ || !stream_.ready() || stream_.busy()) return;
  uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  int n = stream_.tryWrite(&buf, 1);
  if (n < 0) {
    fail(Failure::kUnavailable, std::string("write: ") + uv_err_name(n));
    return;
  }
  if (static_cast<size_t>(n) == out_.size()) {
    out_.clear();
    return;
  }
  if (stream_.busy()) {  // TLS took a part and is writing its ciphertext: the rest follows it
    out_.erase(0, static_cast<size_t>(n));
    return;
  }
  writing_.assign(out_, static_cast<size_t>(n));
  out_.clear();
  buf = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
  int rc = stream_.tls() ? UV_EAGAIN : stream_.write(&buf, 1);
  if (rc != 0) {
    fail(Failure::kUnavailable, std::string("write: ") + uv_err_name(rc));
    return;
  }
  write_active_ = true;
}

void Link::onStreamWritten(int status) {
  write_active_ = false;
  writing_.clear();
  if (state_ == State::kClosed) return;
  if (status != 0) {
    fail(Failure::kUnavailable, std::string("write: ") + uv_err_name(status));
    return;
  }
  flush();
}

void Link::onStreamEnd(int status, std::string_view why) {
  if (state_ == State::kClosed) return;
  if (status == UV_EOF && stream_.ready()) fail(Failure::kUnavailable, "connection closed by Redis");
  else if (status == UV_EPROTO || !stream_.ready()) fail(Failure::kUnavailable, why);  // "TLS: ..."
  else fail(Failure::kUnavailable, std::string("read: ") + std::string(why));
}

void Link::onStreamData(const char* data, size_t len) {
  if (state_ == State::kClosed) return;
  if (!readFrames(data, len)) return;
  if (owner_ != nullptr) owner_->onLinkReplies(*this);
}

bool Link::readFrames(const char* data, size_t len) {
  resp::Resp3Reader& reader = reader_;
  if (!reader.feed(data, len)) {
    fail(Failure::kUnavailable, "out of memory");
    return false;
  }
  for (;;) {
    auto st = reader.next();
    if (st == resp::Resp3Reader::Status::kNeedMore) break;
    if (st == resp::Resp3Reader::Status::kOversized) {
      // The reply's bytes are skipped as they come; the link stays in step and serves the rest.
      if (fifo_.empty()) {
        fail(Failure::kUnavailable, "unexpected reply from Redis");
        return false;
      }
      failHeadOnly(Failure::kTooLarge, tooLarge(reader.oversizedBytes()));
      if (state_ == State::kClosed) return false;
      continue;
    }
    if (st == resp::Resp3Reader::Status::kError) {
      if (reader.overLimit() && !fifo_.empty()) {
        // In step until this reply, which cannot be skipped (it is not one string): its request
        // is refused, and what was queued behind it goes to a new link.
        failHead(Failure::kTooLarge, tooLarge(0), "a reply over --max-backend-reply-bytes");
        return false;
      }
      fail(Failure::kUnavailable, "protocol error from Redis: " + std::string(reader.error()));
      return false;
    }
    onFrame(reader.frame());
    if (state_ == State::kClosed) return false;  // the reply failed the link (a refused handshake)
  }
  reader.releaseIdle();  // a large reply does not pin its size in the reader between replies
  return true;
}

void Link::onFrame(const resp::Frame& frame) {
  if (options_.resp3 && frame.root().type() == resp::FrameType::kPush) {
    // Out of band: a push may come between any two replies and answers no request.
    if (push_sink_ != nullptr) push_sink_->onFrame(frame);
    return;
  }
  if (fifo_.empty() && sink_ != nullptr) {
    sink_->onFrame(frame);
    return;
  }
  if (fifo_.empty()) {
    // A reply nobody asked for: the link is out of step with Redis and cannot be trusted.
    fail(Failure::kUnavailable, "unexpected reply from Redis");
    return;
  }
  Request* r = fifo_.front();
  fifo_.pop_front();
  head_since_ms_ = loop_.nowMs();  // the next entry's reply starts now
  if (r == nullptr) return;  // cancelled: dropped
  if (frame.root().type() == resp::FrameType::kError) {
    if (options_.redirects && r->replies_read == 0 && owner_ != nullptr && isRedirect(frame.root().str())) {
      // Its other replies (the same error: the commands of one request share a slot) are dropped.
      for (Request*& q : fifo_) {
        if (q != r) break;
        q = nullptr;
      }
      --requests_;
      owner_->onLinkRedirect(*this, *r, frame.root().str());
      return;
    }
    ++stats_.errors;
  }
  ++r->replies_read;
  bool last = fifo_.empty() || fifo_.front() != r;
  if (last) --requests_;
  if (state_ == State::kUp && last) latency_.observe(uv_hrtime() - r->sent_ns);
  r->onReply(frame);
}

bool Link::isRedirect(std::string_view error) noexcept {
  return error.starts_with("MOVED ") || error.starts_with("ASK ") || error.starts_with("TRYAGAIN") ||
         error.starts_with("CLUSTERDOWN") || error.starts_with("LOADING");
}

bool Link::takeBulk(void* ctx, const char* data, size_t len) noexcept {
  Link* l = static_cast<Link*>(ctx);
  Request* r = l->fifo_.empty() ? nullptr : l->fifo_.front();
  return r != nullptr && r->onBulk(data, len);
}

void Link::checkDeadlines(uint64_t now_ms) {
  if (state_ == State::kClosed) return;
  if (state_ != State::kUp) {
    if (now_ms >= deadline_ms_) {
      const char* what = !open_error_.empty()            ? open_error_.c_str()
                         : state_ == State::kResolving   ? "resolving timed out"
                         : state_ == State::kConnecting ? "connect timed out"
                                                        : "handshake timed out";
      fail(Failure::kUnavailable, what);
    }
    return;
  }
  if (fifo_.empty()) return;
  Request* head = fifo_.front();
  if (head != nullptr && head->timeout_ms == 0) {
    // A blocking head (BLPOP k 0) holds the pipeline by design: a request behind it has only
    // its own deadline, counted from when it was sent.
    for (const Request* r : fifo_) {
      if (r != nullptr && r->deadline_ms != 0 && now_ms >= r->deadline_ms) {
        fail(Failure::kTimeout, "request timed out");
        return;
      }
    }
    return;
  }
  if (!reader_.midReply()) {
    // Not a byte of the head's reply yet: every request is judged by its own budget, counted from
    // when it was sent or when the reply ahead of it was whole, whichever is later. A head with a
    // longer budget (the proxy's own COMMAND at connect) does not make the reads behind it wait
    // past theirs while Redis sends nothing.
    for (const Request* r : fifo_) {
      if (r != nullptr && r->timeout_ms != 0 && now_ms >= std::max(r->sent_ms, head_since_ms_) + r->timeout_ms) {
        fail(Failure::kTimeout, "request timed out");  // Redis is not answering
        return;
      }
    }
    return;
  }
  // Mid-reply: the head's budget is its own timeout (a cancelled head's: the first live
  // request's) plus its reply's announced size at the rate floor; those behind wait for it.
  uint64_t timeout_ms = 0;
  for (const Request* r : fifo_) {
    if (r != nullptr) {
      timeout_ms = r->timeout_ms;
      break;
    }
  }
  if (timeout_ms == 0) return;
  uint64_t start = std::max(head_since_ms_, head != nullptr ? head->sent_ms : 0);
  uint64_t allowed = timeout_ms;
  if (options_.min_reply_rate > 0) allowed += reader_.announcedBytes() * 1000 / options_.min_reply_rate;
  if (now_ms < start + allowed) return;
  std::string why = "reply arriving slower than --backend-min-rate (" + std::to_string(options_.min_reply_rate) +
                    " bytes/s, " + std::to_string(reader_.announcedBytes()) + " bytes announced)";
  failHead(Failure::kTimeout, why, why);
}

std::string Link::tooLarge(size_t bytes) const {
  return "reply " + (bytes > 0 ? "of " + std::to_string(bytes) + " bytes " : std::string()) +
         "larger than --max-backend-reply-bytes (" + std::to_string(options_.max_reply_bytes) + " bytes)";
}

Request* Link::detachHead() noexcept {
  Request* r = fifo_.front();
  fifo_.pop_front();
  head_since_ms_ = loop_.nowMs();
  if (r == nullptr) return nullptr;
  for (Request*& q : fifo_) {  // its other replies are read and dropped
    if (q == r) q = nullptr;
  }
  --requests_;
  return r;
}

void Link::failHeadOnly(Failure kind, std::string why) {
  Request* r = detachHead();
  if (r == nullptr) return;
  countFailure(kind);
  r->onFailure(kind, why);
}

void Link::countFailure(Failure kind) noexcept {
  if (kind == Failure::kTimeout) ++stats_.timeouts;
  else ++stats_.failed;
}

void Link::failHead(Failure kind, std::string_view why, std::string_view link_why) {
  std::string reason(why);
  Request* r = detachHead();
  if (r != nullptr) countFailure(kind);
  fail(Failure::kUnavailable, link_why);  // the rest: retried on a new link (reads) or failed
  if (r != nullptr) r->onFailure(kind, reason);  // last, touching nothing of the closed link's
}

void Link::failQueued(Failure kind, std::string_view why, std::vector<Request*>* retry) {
  std::string reason(why);  // why may live in a request about to be completed
  while (!fifo_.empty()) {
    Request* r = fifo_.front();
    fifo_.pop_front();
    if (r == nullptr) continue;
    while (!fifo_.empty() && fifo_.front() == r) fifo_.pop_front();  // its other replies: one failure
    --requests_;
    bool internal = false;
    for (const auto& step : handshake_) internal |= step.get() == r;
    if (!internal && retry != nullptr && r->retriable() && r->retries == 0) {
      ++r->retries;
      retry->push_back(r);
      continue;
    }
    if (!internal) countFailure(kind);
    r->onFailure(kind, reason);
  }
}

void Link::fail(Failure kind, std::string_view why) {
  if (state_ == State::kClosed) return;
  std::string reason(why);
  bool was_up = state_ == State::kUp;
  closeHandle();
  // A link that was up and then lost (Redis's idle timeout, CLIENT KILL, a failover) gives its
  // unanswered reads back to be sent again; a timeout means Redis is unresponsive: no retry.
  std::vector<Request*> retry;
  bool lost = was_up && kind == Failure::kUnavailable && owner_ != nullptr;
  failQueued(kind, reason, lost ? &retry : nullptr);
  if (was_up) ++stats_.disconnects;
  if (LinkOwner* o = std::exchange(owner_, nullptr)) o->onLinkDown(*this, reason, retry);
}

void Link::close(std::string_view why) {
  // The owner is done with the link even when it is already failing: a request failed inside
  // fail() can make the owner let go of the link before fail() tells it, and it must then not be told.
  owner_ = nullptr;
  if (state_ == State::kClosed) return;
  bool was_up = state_ == State::kUp;
  closeHandle();
  failQueued(Failure::kUnavailable, why, nullptr);
  if (was_up) ++stats_.disconnects;
}

void Link::closeHandle() noexcept {
  state_ = State::kClosed;
  out_.clear();
  if (callbacks_ > 0) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));  // resolving
  ++callbacks_;
  stream_.close();
}

void Link::onStreamClosed() {
  --callbacks_;
  released();
}

void Link::released() noexcept {
  if (state_ == State::kClosed && callbacks_ == 0) delete this;
}

}  // namespace rcp::backend
