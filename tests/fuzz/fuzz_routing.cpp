// libFuzzer target: the request routing of the whole proxy. One server runs in-process against a
// fake Redis in the same loop that answers every command the way Redis shapes it (GET, MGET,
// pub/sub confirmations and pongs, MULTI/EXEC, CLIENT REPLY, blocking commands timing out; after
// HELLO 3, RESP3 shapes: maps, nulls, pushes for pub/sub, and with CLIENT TRACKING on, an
// invalidation push behind every GET reply);
// each input is one client connection's bytes. Whatever the input, the proxy must not crash, leak
// or stop answering other clients: after each input a fresh client must get its PING answered.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "resp/reply.h"
#include "resp/request_parser.h"
#include "src/base/config.h"
#include "src/base/logging.h"
#include "src/server/server.h"

namespace {

// One connection to the fake Redis: parses requests and answers each as Redis would.
struct FakeConn {
  uv_tcp_t tcp;
  rcp::resp::RequestParser parser;
  int subscriptions = 0;
  bool reply_off = false, skip_next = false;
  bool resp3 = false, tracking = false;
  std::string out;
};

void answer(FakeConn& c, const std::vector<std::string_view>& a) {
  std::string name(a[0]);
  for (char& ch : name) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
  std::string r;
  if (name == "HELLO") {
    c.resp3 = a.size() >= 2 && a[1] == "3";
    r = c.resp3 ? "%1\r\n$5\r\nproto\r\n:3\r\n" : "*2\r\n$5\r\nproto\r\n:2\r\n";
  } else if (name == "GET" && c.tracking && a.size() == 2) {
    rcp::resp::appendBulk(r, "v");
    r += ">2\r\n$10\r\ninvalidate\r\n*1\r\n";  // Redis may push it right behind the reply
    rcp::resp::appendBulk(r, a[1]);
  } else if (name == "GET") {
    rcp::resp::appendBulk(r, "v");
  } else if (name == "HGETALL") {
    r = c.resp3 ? "%1\r\n$1\r\nf\r\n$1\r\nv\r\n" : "*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
  } else if (name == "CLIENT" && a.size() >= 3 && (a[1] == "TRACKING" || a[1] == "tracking")) {
    c.tracking = a[2] == "on" || a[2] == "ON";
    rcp::resp::appendSimple(r, "OK");
  } else if (name == "MGET") {
    rcp::resp::appendArrayHeader(r, static_cast<long long>(a.size() - 1));
    for (size_t i = 1; i < a.size(); ++i) rcp::resp::appendBulk(r, "v");
  } else if (name == "SUBSCRIBE" || name == "PSUBSCRIBE" || name == "SSUBSCRIBE") {
    for (size_t i = 1; i < a.size(); ++i) {
      r += c.resp3 ? ">3\r\n" : "*3\r\n";
      std::string kind = name;
      for (char& ch : kind) ch = static_cast<char>(ch + 32);
      rcp::resp::appendBulk(r, kind);
      rcp::resp::appendBulk(r, a[i]);
      rcp::resp::appendInteger(r, ++c.subscriptions);
    }
  } else if (name == "UNSUBSCRIBE" || name == "PUNSUBSCRIBE" || name == "SUNSUBSCRIBE") {
    size_t n = a.size() > 1 ? a.size() - 1 : std::max(c.subscriptions, 1);
    for (size_t i = 0; i < n; ++i) {
      if (c.subscriptions > 0) --c.subscriptions;
      r += c.resp3 ? ">3\r\n" : "*3\r\n";
      rcp::resp::appendBulk(r, "unsubscribe");
      rcp::resp::appendBulk(r, i + 1 < a.size() ? a[i + 1] : "ch");
      rcp::resp::appendInteger(r, c.subscriptions);
    }
  } else if (name == "PING") {
    if (c.subscriptions > 0 && !c.resp3) {
      rcp::resp::appendArrayHeader(r, 2);
      rcp::resp::appendBulk(r, "pong");
      rcp::resp::appendBulk(r, "");
    } else {
      rcp::resp::appendSimple(r, "PONG");
    }
  } else if (c.subscriptions > 0 && !c.resp3) {
    rcp::resp::appendError(r, "ERR Can't execute: only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET");
  } else if (name == "CLIENT" && a.size() == 3 && (a[1] == "REPLY" || a[1] == "reply")) {
    std::string mode(a[2]);
    c.reply_off = mode == "OFF" || mode == "off";
    c.skip_next = mode == "SKIP" || mode == "skip";
    if (mode == "ON" || mode == "on") rcp::resp::appendSimple(r, "OK");
    c.out += r;
    return;
  } else if (name == "EXEC") {
    rcp::resp::appendArrayHeader(r, 0);
  } else if (name == "COMMAND") {
    rcp::resp::appendArrayHeader(r, 0);
  } else if (name == "INFO") {
    rcp::resp::appendBulk(r, "# Server\r\nredis_version:7.0.0\r\n");
  } else if (name == "BLPOP" || name == "BRPOP" || name == "BZPOPMIN" || name == "XREAD") {
    r = c.resp3 ? "_\r\n" : "*-1\r\n";
  } else if (name.size() > 1 && name[0] == 'E') {
    rcp::resp::appendError(r, "ERR scripted error");
  } else {
    rcp::resp::appendSimple(r, "OK");
  }
  if (c.skip_next) {
    c.skip_next = false;
    return;
  }
  if (!c.reply_off) c.out += r;
}

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    std::abort();
  close(fd);
  return ntohs(a.sin_port);
}

struct World {
  uv_loop_t loop;
  uv_tcp_t listener;
  uint16_t redis_port = 0;
  std::unique_ptr<rcp::Server> server;

  World() {
    signal(SIGPIPE, SIG_IGN);  // the harness writes to connections the proxy may have closed (QUIT)
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &listener);
    listener.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&a), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 128, [](uv_stream_t* l, int) noexcept {
      auto* c = new FakeConn();
      uv_tcp_init(l->loop, &c->tcp);
      c->tcp.data = c;
      if (uv_accept(l, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) std::abort();
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&c->tcp),
          [](uv_handle_t*, size_t, uv_buf_t* b) noexcept {
            static char buf[65536];
            *b = uv_buf_init(buf, sizeof buf);
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) noexcept {
            auto* c = static_cast<FakeConn*>(s->data);
            if (n < 0) {
              uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) noexcept { delete static_cast<FakeConn*>(h->data); });
              return;
            }
            c->parser.feed(b->base, static_cast<size_t>(n));
            while (c->parser.next() == rcp::resp::RequestParser::Status::kRequest) answer(*c, c->parser.args());
            if (!c->out.empty()) {
              uv_buf_t w = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
              uv_try_write(s, &w, 1);  // small replies on loopback: taken whole
              c->out.clear();
            }
          });
    });
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
    redis_port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    rcp::Config config;
    std::vector<std::string> args = {"--redis", "127.0.0.1:" + std::to_string(redis_port), "--port",
                                     std::to_string(freePort()),
                                     "--max-pinned", "8", "--log-level", "off", "--backend-timeout", "200ms"};
    rcp::parseConfig(args, [](const char*) -> const char* { return nullptr; }, config);
    rcp::setupLogging(config.log_format, config.log_level);
    server = std::make_unique<rcp::Server>(&loop, config);
    server->start();
    for (int i = 0; i < 50; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
};

int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

// Runs the loop until the client has had no new byte for a while; returns what it read.
std::string pump(World& w, int fd, int quiet_turns) {
  std::string got;
  char buf[65536];
  for (int idle = 0; idle < quiet_turns;) {
    uv_run(&w.loop, UV_RUN_NOWAIT);
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      idle = 0;
    } else {
      ++idle;
      if (n == 0) break;
    }
    if (got.size() > (1u << 20)) break;
  }
  return got;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = new World();
  int fd = connectTo(w->server->boundPort());
  for (size_t off = 0; off < size;) {
    ssize_t n = write(fd, data + off, size - off);
    if (n > 0) off += static_cast<size_t>(n);
    else uv_run(&w->loop, UV_RUN_NOWAIT);
  }
  pump(*w, fd, 30);
  close(fd);
  pump(*w, -1, 5);
  // Everyone else is still served.
  int probe = connectTo(w->server->boundPort());
  const char ping[] = "*1\r\n$4\r\nPING\r\n";
  if (write(probe, ping, sizeof ping - 1) != static_cast<ssize_t>(sizeof ping - 1)) std::abort();
  std::string got = pump(*w, probe, 200);
  close(probe);
  if (got.find("+PONG\r\n") == std::string::npos) std::abort();
  pump(*w, -1, 5);
  return 0;
}
