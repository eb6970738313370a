// A client connection. It owns its libuv handle (freed only in the close callback), sniffs the
// protocol from the first bytes, hands input to the protocol session, and writes the ready prefix
// of its reply queue in one write per loop turn, so replies leave in request order whatever order
// the backend answers in. Input is paused (back-pressure) while too many replies are pending or
// too many bytes are queued for a slow reader.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/base/config.h"
#include "src/net/stream.h"
#include "src/client/reply_queue.h"
#include "src/client/session.h"
#include "src/client/session_context.h"

namespace rcp::client {

class Connection;

// What a connection needs of the set it belongs to (the client set implements it).
class ConnectionOwner {
 public:
  // The connections with replies to write, which the owner writes in the end-of-turn pass: a
  // connection appends itself (once per pass: Connection::dirty says whether it is there).
  virtual std::vector<Connection*>& dirtyList() noexcept = 0;
  // c's handle is closed; c is deleted right after.
  virtual void closed(Connection* c) = 0;
  // c's unparsed input went from before to now bytes (--max-input-bytes counts all connections').
  virtual void inputChanged(Connection* c, size_t before, size_t now) = 0;
  // The session for the protocol c's first bytes showed.
  virtual std::unique_ptr<Session> makeSession(Connection& c, bool http) = 0;
  // Where a connection gathers many small replies for one uv_try_write (synchronous, so one
  // buffer serves every connection in turn): kGatherBytes.
  static constexpr size_t kGatherBytes = 64 << 10;
  virtual char* gatherBuffer() noexcept = 0;

 protected:
  ~ConnectionOwner() = default;
};

// Ownership, and the order things end in:
//   - the connection owns its handle, its reply queue and its session; it is deleted in the handle's
//     close callback, after its owner has been told (ConnectionOwner::closed);
//   - a reply belongs to the queue while the connection lives; a request forwarded or looked up
//     for it belongs to the forwarder or the read-through, which complete it even after the client
//     left: its part then finds the reply orphaned (Reply::conn null) and the last part frees it;
//   - teardown (~Connection) first orphans the queue's waiting replies, then destroys the session:
//     a session's destructor may release a pinned connection, which can complete requests at once,
//     and their parts must find no connection to call. An assert holds that order.
// Which listener a connection came through: its kind of socket, and TLS (null: plaintext).
struct Listener {
  net::Stream::Kind kind = net::Stream::Kind::kTcp;
  SSL_CTX* tls = nullptr;             // the listener's context when the connection was accepted
  net::TlsStats* tls_stats = nullptr; // where its handshakes are counted
};

class Connection final : private ReplyOwner, private net::StreamOwner {
 public:
  Connection(ConnectionOwner& owner, const SessionContext& context, ReplyPool& replies, uint64_t id, bool rejecting,
             const Listener& listener = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // After uv_accept() into stream(): starts reading (TLS: the handshake first). Returns a libuv error code.
  int start();
  uv_stream_t* stream() noexcept { return stream_.uv(); }
  net::Stream::Kind kind() const noexcept { return stream_.kind(); }
  bool tls() const noexcept { return stream_.tls(); }
  uint64_t id() const noexcept { return id_; }
  bool rejecting() const noexcept { return rejecting_; }
  // Protected mode refuses this client (protected_mode.h): it gets the refusal once it has shown
  // its protocol, then is closed.
  void denyProtected() noexcept {
    rejecting_ = true;
    protected_ = true;
  }

  // --- for sessions
  // A new reply at the back of the queue, owned by this connection.
  Reply* pushReply() { return queue_.push(this); }
  // True while the connection may take another request (pending replies and queued bytes are
  // under their limits); sessions stop parsing when it turns false. Asked several times per
  // request, so it reads the live config (SIGHUP may change the limits) without a call.
  bool canTakeRequest() const noexcept {
    size_t pause = std::min(kPauseOutputBytes, config_.max_output_bytes);
    return !close_after_write_ && !closing_ && queue_.size() < config_.max_pending && unflushed_bytes_ < pause &&
           !(writing_ && write_bytes_ >= pause);
  }
  // The session queued the reply of one request (at the tail); counts its bytes if ready.
  void requestQueued() noexcept {
    ++requests_;
    if (queue_.tail() != nullptr && queue_.tail()->ready()) unflushed_bytes_ += queue_.tail()->bytes();
  }
  // The RESP session ran one request; pushed: it queued a reply (stream mode queues none).
  void requestDone(bool pushed) noexcept {
    ++requests_;
    if (pushed && queue_.tail()->ready()) unflushed_bytes_ += queue_.tail()->bytes();
  }
  Reply* tailReply() const noexcept { return queue_.tail(); }
  // Something changed outside a read (a pinned connection's frame, a barrier lifted): write and
  // run held requests in the end-of-turn pass.
  void kick() { markDirty(); }
  // Reply bytes are waiting for a client that is not taking them (back-pressure on a stream).
  bool outputBacklogged() const noexcept;
  // The session's onDrained() is called once the output has drained (only when asked: not a
  // call per write).
  void notifyWhenDrained() noexcept { drain_notify_ = true; }
  uint64_t lastActiveMs() const noexcept { return last_active_ms_; }
  std::string peerAddress() const;
  std::string localAddress() const;
  // The session has no more use for the stream: write what is queued, then close.
  void closeAfterWrite();
  bool closingAfterWrite() const noexcept { return close_after_write_; }
  std::string& name() noexcept { return name_; }  // CLIENT SETNAME
  // Its line in CLIENT LIST: what the connection knows, then what its session knows.
  void describe(ClientInfo& info) const;
  bool blockedOn(long long* redis_id, int32_t* slot) const;

  // --- for the client set
  void flush();       // writes the ready prefix of the queue
  void close();       // idempotent; the object is freed in the close callback
  // Shutdown: read nothing more, answer what was asked, then close.
  void drain();
  // Closes the connection if it has been silent (no bytes read or written) for idle_ms and is not
  // waiting on the backend; a never-sniffed over-limit connection gets reject_ms. Returns true if closed.
  bool closeIfIdle(uint64_t now_ms, uint64_t idle_ms, uint64_t reject_ms);
  // Answers 408 / an error and closes the connection if part of a request has waited for the rest
  // longer than request_ms (slowloris); a connection paused by back-pressure is not waiting on its client.
  bool closeIfRequestSlow(uint64_t now_ms, uint64_t request_ms);
  size_t inputBytes() const noexcept { return input_bytes_; }
  // Over --max-input-bytes, this connection holds the most: an error, then close.
  void closeForInputLimit();
  bool dirty = false;  // queued on the owner's flush list (set and cleared by the owner)

 private:
  // ReplyOwner: a part of reply was waiting on a lookup: its session renders it; a reply whose last
  // part is filled is written this turn.
  void onLookup(Reply& reply, Part& part, const proxy::Lookup& r) override;
  // Queued for the end-of-turn write pass (once per pass), and the loop told to run that pass.
  void markDirty() {
    if (!dirty) {
      dirty = true;
      dirty_list_.push_back(this);
    }
    context_.loop.requestTurnEnd();
  }
  // net::StreamOwner: plaintext in, the end of input, a write done, the handle closed.
  void onStreamData(const char* data, size_t len) override;
  void onStreamEnd(int status, std::string_view why) override;
  void onStreamWritten(int status) override;
  void onStreamEstablished() override;
  void onStreamClosed() override;
  bool startSession(const char* data, size_t len);
  // One uv_try_write of what is ready, then a queued uv_write of any rest; false when closed.
  bool writeReady();
  void afterFlush();
  void pauseReading();
  void resumeReading();
  void rejectAndClose(bool http);
  // One error reply in the connection's protocol (HTTP status and text, or a RESP error), then close.
  void answerAndClose(bool http, int status, std::string_view text, std::string_view resp_error);
  // After input was parsed: when part of a request is waiting for the rest, since when; and how
  // much input the connection holds, for the client set's total.
  void noteRequestStart(uint64_t requests_before);
  Session::Input heldInput() const;  // nothing once the connection will parse no more
  void noteInput(size_t bytes);      // tells the client set what this connection now holds
  bool overOutputLimit() const noexcept;
  void closeForOutputLimit();

  // Once this many reply bytes wait for a socket that is not taking them, the connection's input
  // is no longer parsed until they drain (back-pressure on pipelining clients); capped by
  // --max-output-bytes.
  static constexpr size_t kPauseOutputBytes = 256 << 10;
  static constexpr size_t kMaxIov = 512;  // buffers per write call (a pipelined batch of MGET replies: one write)

  ConnectionOwner& owner_;
  const SessionContext& context_;
  const Config& config_;              // the server's, updated in place on reload
  char* gather_;                      // the owner's gather buffer (kGatherBytes)
  std::vector<Connection*>& dirty_list_;  // the owner's
  uint64_t id_;
  net::Stream stream_;                // the socket (TCP or Unix, plaintext or TLS)
  std::unique_ptr<Session> session_;  // null until the protocol is known
  std::string sniff_;                 // first bytes, kept until the protocol is known
  std::string name_;
  ReplyQueue queue_;
  size_t write_bytes_ = 0;            // bytes in the write in flight, not yet taken by the socket
  size_t write_advance_ = 0;          // reply bytes the queue gives up when it completes (TLS: 0, taken already)
  size_t unflushed_bytes_ = 0;        // bytes of replies made ready by this batch of requests, not yet written
  uint64_t last_active_ms_ = 0;       // monotonic: last read or write progress
  uint64_t created_ms_ = 0;           // monotonic: accepted
  uint64_t requests_ = 0;             // requests parsed on this connection
  uint64_t request_started_ms_ = 0;   // first byte of the request not yet whole; 0: none pending
  size_t input_bytes_ = 0;            // unparsed input held, as last counted in the client set
  size_t unsent_seen_ = 0;            // unsentBytes() at the last idle check (a change is activity)
  bool writing_ = false;
  bool reading_ = false;
  bool read_eof_ = false;
  bool close_after_write_ = false;
  bool closing_ = false;
  bool rejecting_;                    // over --max-clients (or protected): answer one error, then close
  bool protected_ = false;            // the refusal is protected mode's
  bool http_ = false;                 // the session speaks HTTP
  bool drain_notify_ = false;         // the session asked to hear when the output drains
};

}  // namespace rcp::client
