// What a RESP command is to the client wing: the one place that decides where each command runs.
// resp/commands.h names the commands whose routing is the proxy's business (resp::Cmd, with
// Redis's flags and key positions for every other one); this table gives each its shape, and the
// session runs each shape in its room:
//
//   shape        commands                                       room
//   kCached      GET, MGET                                      cache_reads (when the client's
//                                                               state lets the cache serve it)
//   kConnection  PING, ECHO, QUIT, RESET, HELLO, AUTH, CLIENT   local_commands; CLIENT's other
//                                                               subcommands: resp_pinned
//   kPinning     MULTI, EXEC, DISCARD, WATCH, UNWATCH, SELECT   resp_pinned (client_state's flags)
//   kStream      SUBSCRIBE family, MONITOR                      resp_stream (relayed as it comes)
//   kInfo        INFO                                           resp_session (the proxy's
//                                                               sections with Redis's)
//   kForward     everything else                                resp_session: the shared link, the
//                                                               pinned connection, a blocking one;
//                                                               in a cluster split by slot or sent
//                                                               to every primary (src/proxy/split_rules)
//
// The write flags and key positions of kForward commands decide what the cache drops first
// (read-your-writes); a blocking command (resp::blocks) gets a pinned connection of its own.
#pragma once

#include <cstdint>

#include "resp/commands.h"

namespace rcp::client {

enum class Shape : uint8_t { kCached, kConnection, kPinning, kStream, kInfo, kForward };

constexpr Shape shapeOf(resp::Cmd cmd) noexcept {
  using resp::Cmd;
  switch (cmd) {
    case Cmd::kGet:
    case Cmd::kMget: return Shape::kCached;
    case Cmd::kPing:
    case Cmd::kEcho:
    case Cmd::kQuit:
    case Cmd::kReset:
    case Cmd::kHello:
    case Cmd::kAuth:
    case Cmd::kClient: return Shape::kConnection;
    case Cmd::kMulti:
    case Cmd::kExec:
    case Cmd::kDiscard:
    case Cmd::kWatch:
    case Cmd::kUnwatch:
    case Cmd::kSelect: return Shape::kPinning;
    case Cmd::kSubscribe:
    case Cmd::kUnsubscribe:
    case Cmd::kMonitor: return Shape::kStream;
    case Cmd::kInfo: return Shape::kInfo;
    case Cmd::kOther:
    case Cmd::kFlush:
    case Cmd::kScript:
    case Cmd::kWait:
    case Cmd::kXread: return Shape::kForward;
  }
  return Shape::kForward;
}

}  // namespace rcp::client
