// The admin listener (see admin.h).
#include "src/server/admin.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <stdexcept>
#include <utility>

#include "http/request_parser.h"
#include "http/response.h"

namespace rcp {

// One admin connection; owned by AdminServer, freed in its close callback.
struct AdminServer::Conn {
  explicit Conn(AdminServer* o) : owner(o) {
    tcp.data = this;
    write_req.data = this;
  }
  AdminServer* owner;
  uv_tcp_t tcp;
  uv_write_t write_req;
  http::RequestParser parser{http::RequestLimits{1024, 8192}};
  std::string out;
  uint64_t opened_ms = 0;  // loop time of the accept
  uint64_t seq = 0;        // accept order (connections accepted in one loop turn share opened_ms)
  bool responded = false;
  bool closing = false;
};

AdminServer::AdminServer(Loop& loop, AdminHooks hooks) : loop_(loop), hooks_(std::move(hooks)) {
  uv_tcp_init(loop_.uv(), &listener_);
  listener_.data = this;
  uv_timer_init(loop_.uv(), &deadline_timer_);
  deadline_timer_.data = this;
}

AdminServer::~AdminServer() = default;

void AdminServer::start(const std::string& bind, uint16_t port) {
  sockaddr_storage addr{};
  int rc = uv_ip4_addr(bind.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) rc = uv_ip6_addr(bind.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
  if (rc != 0) throw std::runtime_error("--admin-bind: '" + bind + "' is not an IPv4 or IPv6 address");
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, [](uv_stream_t* s, int status) noexcept {
      static_cast<AdminServer*>(s->data)->onConnection(status);
    });
  }
  if (rc != 0) throw std::runtime_error("cannot listen on admin " + bind + ":" + std::to_string(port) + ": " + uv_strerror(rc));
  listening_ = true;
  uv_timer_start(&deadline_timer_, [](uv_timer_t* t) noexcept { static_cast<AdminServer*>(t->data)->closeLate(); },
                 kReadDeadlineMs / 4, kReadDeadlineMs / 4);
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), nullptr);
  std::vector<Conn*> all(conns_.begin(), conns_.end());
  for (Conn* c : all) closeConn(c);
}

// Health checks must keep answering whatever else connects: silent connections are closed after
// kReadDeadlineMs, and at the limit the oldest silent one makes room for a new one.
void AdminServer::closeLate() {
  uint64_t now = loop_.nowMs();
  std::vector<Conn*> late;
  for (Conn* c : conns_)
    if (!c->responded && !c->closing && now - c->opened_ms >= kReadDeadlineMs) late.push_back(c);
  for (Conn* c : late) closeConn(c);
}

bool AdminServer::evictOldestSilent() {
  Conn* oldest = nullptr;
  for (Conn* c : conns_)
    if (!c->responded && !c->closing && (oldest == nullptr || c->seq < oldest->seq)) oldest = c;
  if (oldest == nullptr) return false;
  closeConn(oldest);
  return true;
}

void AdminServer::onConnection(int status) {
  if (status != 0) return;
  size_t open = 0;
  for (const Conn* o : conns_) open += o->closing ? 0 : 1;
  auto* c = new Conn(this);
  uv_tcp_init(loop_.uv(), &c->tcp);
  c->opened_ms = loop_.nowMs();
  c->seq = ++accepted_;
  conns_.insert(c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ||
      (open >= kMaxConnections && !evictOldestSilent())) {
    closeConn(c);
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
        *buf = static_cast<Conn*>(h->data)->owner->loop_.readBuffer();
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
        Conn* conn = static_cast<Conn*>(s->data);
        AdminServer* self = conn->owner;
        if (conn->closing || conn->responded) return;
        if (nread < 0) {
          self->closeConn(conn);
          return;
        }
        size_t used = 0;
        auto st = conn->parser.parse(buf->base, static_cast<size_t>(nread), used);
        if (st == http::RequestParser::Status::kNeedMore) return;
        if (st == http::RequestParser::Status::kError) {
          self->respond(conn, conn->parser.errorStatus(), "text/plain; charset=utf-8", "bad request\n");
          return;
        }
        const http::Request& req = conn->parser.request();
        std::string_view path = req.target.substr(0, req.target.find('?'));
        if (req.method != http::Method::kGet && req.method != http::Method::kHead) {
          self->respond(conn, 405, "text/plain; charset=utf-8", "use GET\n");
        } else if (path == "/metrics") {
          self->respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", self->hooks_.metrics());
        } else if (path == "/healthz") {
          self->respond(conn, 200, "text/plain; charset=utf-8", "ok\n");
        } else if (path == "/readyz") {
          std::string why = self->hooks_.not_ready();
          self->respond(conn, why.empty() ? 200 : 503, "text/plain; charset=utf-8", why.empty() ? "ready\n" : why + "\n");
        } else {
          self->respond(conn, 404, "text/plain; charset=utf-8", "not found: /metrics, /healthz, /readyz\n");
        }
      });
}

void AdminServer::respond(Conn* c, int status, std::string_view content_type, std::string_view body) {
  c->responded = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  http::ResponseOptions opt;
  opt.keep_alive = false;
  opt.content_type = content_type;
  http::appendHead(c->out, status, body.size(), date_.get(std::time(nullptr)), opt);
  if (c->parser.request().method != http::Method::kHead || status >= 400) c->out.append(body);
  uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, [](uv_write_t* req, int) noexcept {
    Conn* conn = static_cast<Conn*>(req->data);
    conn->owner->closeConn(conn);
  });
  if (rc != 0) closeConn(c);
}

void AdminServer::closeConn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) noexcept {
    Conn* conn = static_cast<Conn*>(h->data);
    conn->owner->conns_.erase(conn);
    delete conn;
  });
}

}  // namespace rcp
