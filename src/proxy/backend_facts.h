// What the proxy learns from Redis each time the shared link connects: its command table
// (COMMAND: flags and key positions, so new and module commands route right) and its version
// (INFO server: HELLO reports it, so clients that adapt to the server see the real one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "resp/commands.h"
#include "src/base/config.h"
#include "src/backend/request.h"
#include "src/backend/upstream.h"

namespace rcp::proxy {

class BackendFacts {
 public:
  BackendFacts(backend::Upstream& upstream, resp::CommandTable& commands, const Config& config);
  BackendFacts(const BackendFacts&) = delete;
  BackendFacts& operator=(const BackendFacts&) = delete;

  // Asks for both (the upstream calls it each time its link comes up), within --backend-timeout as
  // any read: a longer budget would hold the reads pipelined behind them while Redis is stuck.
  void ask();
  std::string_view version() const noexcept { return version_; }  // empty until known
  size_t commandsLearned() const noexcept { return learned_; }

 private:
  class Ask final : public backend::Request {
   public:
    Ask(BackendFacts& owner, bool command) : owner_(owner), command_(command) {}
    void encode(std::string& out) const override;
    void onReply(const resp::Frame& reply) override;
    void onFailure(backend::Failure, std::string_view) override { in_flight = false; }
    bool in_flight = false;

   private:
    BackendFacts& owner_;
    bool command_;  // COMMAND, else INFO server
  };

  backend::Upstream& upstream_;
  resp::CommandTable& commands_;
  const Config& config_;  // the server's, updated in place on reload
  Ask command_ask_{*this, true};
  Ask info_ask_{*this, false};
  std::string version_;
  size_t learned_ = 0;
};

}  // namespace rcp::proxy
