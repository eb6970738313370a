// Learning the backend's commands and version (see backend_facts.h).
#include "src/proxy/backend_facts.h"

#include <spdlog/spdlog.h>

#include "resp/frame.h"
#include "resp/reply.h"

namespace rcp::proxy {

BackendFacts::BackendFacts(backend::Upstream& upstream, resp::CommandTable& commands, const Config& config)
    : upstream_(upstream), commands_(commands), config_(config) {
  upstream_.onUp([this](backend::NodeId) { ask(); });
}

void BackendFacts::ask() {
  for (Ask* a : {&command_ask_, &info_ask_}) {
    if (a->in_flight) continue;
    a->in_flight = true;
    a->timeout_ms = config_.backend_timeout_ms;
    upstream_.submit(a);
  }
}

void BackendFacts::Ask::encode(std::string& out) const {
  if (command_) resp::appendCommand(out, {"COMMAND"});
  else resp::appendCommand(out, {"INFO", "server"});
}

void BackendFacts::Ask::onReply(const resp::Frame& reply) {
  in_flight = false;
  resp::FrameView r = reply.root();
  if (r.type() == resp::FrameType::kError) {
    spdlog::warn("backend refused {}: {}; {}", command_ ? "COMMAND" : "INFO", r.str(),
                 command_ ? "routing on the built-in command table" : "HELLO reports the proxy's version");
    return;
  }
  if (command_) {
    size_t n = owner_.commands_.learn(r);
    if (n > 0) owner_.learned_ = n;
    spdlog::debug("learned {} commands from the backend", n);
    return;
  }
  if (r.type() != resp::FrameType::kBulk) return;
  std::string_view text = r.str();
  size_t at = text.find("redis_version:");
  if (at == std::string_view::npos) return;
  text.remove_prefix(at + 14);
  owner_.version_.assign(text.substr(0, text.find_first_of("\r\n")));
}

}  // namespace rcp::proxy
