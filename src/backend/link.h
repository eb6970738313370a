// One connection to Redis (TCP or a Unix socket, plaintext or TLS): resolve, connect, the TLS
// handshake, the Redis handshake (AUTH, SELECT as ordinary internal requests at the head of the
// pipeline), then requests pipelined in FIFO order, replies read as
// frames and matched to the request at the head. It knows nothing of the cache or of clients: it
// serves backend::Request objects and tells its owner (the policy) when it is up and when it is gone.
//
// Lifetime: created and opened by the owner; once it fails (or the owner closes it) it fails every
// request it holds, closes its handle and frees itself in the close callback. The owner drops its
// pointer when onLinkDown() is called or when it calls close(); the link calls nothing after that.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resp/frame.h"
#include "resp/resp3_reader.h"
#include "src/backend/request.h"
#include "src/backend/upstream.h"
#include "src/base/histogram.h"
#include "src/base/loop.h"
#include "src/net/stream.h"

namespace rcp::backend {

struct LinkOptions {
  // The link to the Redis of the configuration: address, AUTH and SELECT in the handshake; with
  // resp3, HELLO 3 (carrying the AUTH) first.
  static LinkOptions fromRedis(const std::string& host, uint16_t port, const std::string& user,
                               const std::string& password, int db, uint64_t connect_timeout_ms,
                               size_t max_reply_bytes, bool resp3 = false, uint64_t min_reply_rate = 0);

  // Adds ROLE to the handshake: a node that answers anything but "master" fails the link (each
  // connection to a Sentinel-found primary checks it is still one).
  void requirePrimary();

  std::string host;   // a path starting with '/' is a Unix socket (port unused)
  uint16_t port = 6379;
  // TLS (rediss://): the backend side's context, counters and names, read when a link starts (so
  // a reload reaches the next link); null: plaintext.
  net::TlsEndpoint* tls = nullptr;
  std::vector<std::vector<std::string>> handshake;  // commands sent first on every connection
  uint64_t connect_timeout_ms = 2000;               // resolve + connect + handshake
  size_t max_reply_bytes = 512u << 20;              // a larger reply is refused (its request fails, see Resp3Reader)
  // A reply must arrive at this rate or faster, bytes/s: the request at the head of the pipeline
  // may take its timeout plus its reply's announced size at this rate (0: its timeout only).
  uint64_t min_reply_rate = 0;
  bool resp3 = false;  // a RESP3 connection (the handshake must include HELLO 3): pushes go to the push sink
  // A RESP2 invalidation link: RESP3's null is read as a null (Redis redirects a RESP3 tracking
  // client's null invalidation, after FLUSHALL, in that client's protocol).
  bool null3 = false;
  // A Redis Cluster policy's link: a first reply of MOVED, ASK, TRYAGAIN, CLUSTERDOWN or LOADING goes
  // to the owner's onLinkRedirect instead of the request (whose later replies are then dropped).
  bool redirects = false;
};

class Link;

// Where a link in stream mode delivers what Redis sends (pub/sub messages, MONITOR lines, replies
// a client asked for without a request object: see Link::setSink).
class FrameSink {
 public:
  virtual void onFrame(const resp::Frame& frame) = 0;

 protected:
  ~FrameSink() = default;
};

// The link's owner: the policy that decides where requests go and when to reconnect.
class LinkOwner {
 public:
  virtual void onLinkUp(Link& link) = 0;
  // Replies were read: there may be room in the pipeline for waiting requests.
  virtual void onLinkReplies(Link& link) = 0;
  // The link failed; it is closing and frees itself. Every request it held has been failed, except
  // those in retry (in order): retriable requests that a link lost after it was up could not
  // answer, now the owner's to resend or fail.
  virtual void onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) = 0;
  // With LinkOptions::redirects: r's first reply was error (MOVED ...): r is no longer on the link,
  // and the owner must send it again or fail it.
  virtual void onLinkRedirect(Link& /*link*/, Request& /*r*/, std::string_view /*error*/) {}

 protected:
  ~LinkOwner() = default;
};

class Link final : private net::StreamOwner {
 public:
  enum class State { kResolving, kConnecting, kHandshake, kUp, kClosed };

  Link(Loop& loop, const LinkOptions& options, LinkOwner& owner, UpstreamStats& stats, LatencyHistogram& latency);
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Starts resolving and connecting. Failures arrive through onLinkDown, never inside this call.
  void open();
  // Closes the connection and fails what it holds with why; no owner callback, from now on (also
  // when the link is already failing). Idempotent.
  void close(std::string_view why);

  State state() const noexcept { return state_; }
  // Requests may be sent (they queue behind the handshake).
  bool accepting() const noexcept { return state_ == State::kHandshake || state_ == State::kUp; }
  size_t inflight() const noexcept { return requests_; }  // requests sent and not answered (nor cancelled)
  // The connection's id on Redis, when the handshake asked for it (CLIENT ID); 0 otherwise.
  long long clientId() const noexcept { return client_id_; }
  // This end's address (ip:port), as Redis names the connection (CLIENT LIST's addr, MONITOR).
  std::string localAddress() const;

  // Queues r behind what was sent (accepting() must hold); written by flush().
  void send(Request* r);
  // The reply of r, if it is still awaited, will be read and dropped. Returns whether r was here.
  bool cancel(Request* r) noexcept;
  // Stream mode: bytes written as they are, with no request awaiting a reply; every frame read
  // once the FIFO is empty goes to the sink (null: back to FIFO mode, once the sink has seen the
  // reply that ends the stream). For pub/sub, MONITOR and CLIENT REPLY on a pinned connection.
  void sendRaw(std::string_view bytes);
  void setSink(FrameSink* sink) noexcept { sink_ = sink; }
  // RESP3 links: push frames (pub/sub messages, invalidations) go here whatever the FIFO holds;
  // with no push sink they are dropped.
  void setPushSink(FrameSink* sink) noexcept { push_sink_ = sink; }
  // Back-pressure: stops (or resumes) reading from Redis while the client cannot take more.
  void pauseReading(bool paused);
  // Writes what was queued.
  void flush();
  // Fails the link when the connection or the handshake is past its deadline, or when the request
  // at the head of the pipeline is (only the head is timed: one behind it is not late while
  // Redis answers the head; its time starts when the head's reply is whole). The head may take its
  // timeout from when it became the head, plus its reply's announced size at min_reply_rate:
  //  - no byte of its reply yet: Redis is unresponsive; everything sent fails with a timeout;
  //  - its reply was arriving, too slowly: it fails with a timeout, and what was queued behind it
  //    is handed back (reads retried on a new link), since Redis itself is answering.
  // A head with no deadline (BLPOP k 0) times nothing behind it but by their own deadlines.
  void checkDeadlines(uint64_t now_ms);

 private:
  class HandshakeStep;
  ~Link();

  int startReading();
  void onResolved(int status, struct addrinfo* res);
  // net::StreamOwner
  void onStreamConnected(int status) override;
  void onStreamEstablished() override;
  void onStreamData(const char* data, size_t len) override;
  void onStreamEnd(int status, std::string_view why) override;
  void onStreamWritten(int status) override;
  void onStreamClosed() override;
  void startHandshake();  // the Redis handshake, once the stream is connected (and TLS established)
  void onFrame(const resp::Frame& frame);
  void handshakeDone();
  // Fails every request with kind, closes the handle and tells the owner.
  void fail(Failure kind, std::string_view why);
  // Fails the request at the head of the pipeline with kind and why (never retried), then the
  // link as lost (link_why): what was queued behind the head is retried or failed as in fail().
  void failHead(Failure kind, std::string_view why, std::string_view link_why);
  // Fails the head request alone; the link stays up (its reply is being skipped).
  void failHeadOnly(Failure kind, std::string why);
  Request* detachHead() noexcept;
  void countFailure(Failure kind) noexcept;  // a request failed by this link: its kind's counter  // pops the head entry; the request's other replies become drops
  std::string tooLarge(size_t bytes) const;
  // Fails what the link holds; retriable requests not yet retried go to retry instead, if given.
  void failQueued(Failure kind, std::string_view why, std::vector<Request*>* retry);
  void closeHandle() noexcept;
  void released() noexcept;  // one outstanding libuv callback has arrived
  static bool isRedirect(std::string_view error) noexcept;
  static bool takeBulk(void* ctx, const char* data, size_t len) noexcept;

  Loop& loop_;
  const LinkOptions& options_;  // the owner's, outlives the link
  LinkOwner* owner_;             // null once the owner has been told (or closed us)
  UpstreamStats& stats_;
  LatencyHistogram& latency_;
  State state_ = State::kResolving;
  uv_getaddrinfo_t resolve_req_;
  net::Stream stream_;          // TCP or Unix, plaintext or TLS
  int callbacks_ = 0;           // outstanding libuv callbacks; freed when the last arrives after close
  std::deque<Request*> fifo_;   // one entry per awaited reply (a request of several has several); null = reply to drop
  size_t requests_ = 0;         // distinct live requests in fifo_
  std::string out_;             // commands queued this turn
  std::string writing_;         // bytes handed to a queued write, kept alive until it ends
  bool write_active_ = false;
  bool connected_ = false;      // the stream is connected (TLS may still be shaking hands)
  bool paused_ = false;         // reading stopped by pauseReading
  FrameSink* sink_ = nullptr;   // stream mode: frames beyond the FIFO go here
  FrameSink* push_sink_ = nullptr;  // RESP3: push frames go here
  uint64_t deadline_ms_ = 0;    // connect / handshake deadline
  uint64_t head_since_ms_ = 0;  // loop time the head of the pipeline became the head (its predecessor's reply whole)
  std::string open_error_;      // why open() could not start resolving
  std::vector<std::unique_ptr<HandshakeStep>> handshake_;
  size_t handshake_left_ = 0;
  long long client_id_ = 0;     // CLIENT ID's answer in the handshake
  bool readFrames(const char* data, size_t len);  // false once the link failed
  // The project's own reader, for RESP2 links too (RESP2 is a subset): hiredis 0.14's reader stops
  // at 7 levels of nesting, and a reply Redis does send nested deeper (COMMAND DOCS, a Lua table)
  // would otherwise cost the link and every client's request on it.
  resp::Resp3Reader reader_;
};

}  // namespace rcp::backend
