// redis-cache-proxy entry point: configuration, logging, signals, one libuv loop.
#include <spdlog/spdlog.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <exception>

#include "src/base/config.h"
#include "src/base/logging.h"
#include "src/server/fd_limit.h"
#include "src/server/server.h"

int main(int argc, char** argv) {
  rcp::Config config;
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto action = rcp::parseConfig(args, [](const char* n) { return std::getenv(n); }, config);
    if (action == rcp::ConfigAction::kHelp) {
      std::fputs(rcp::helpText().c_str(), stdout);
      return 0;
    }
    if (action == rcp::ConfigAction::kVersion) {
      std::puts("redis-cache-proxy " RCP_VERSION);
      return 0;
    }
  } catch (const rcp::ConfigError& e) {
    std::fprintf(stderr, "redis-cache-proxy: %s\n", e.what());
    return 2;
  }

  rcp::setupLogging(config.log_format, config.log_level);

  // A client that disconnects mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  // --max-clients needs as many descriptors, plus a few.
  rcp::raiseOpenFilesLimit(config.max_clients);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    rcp::Server server(&loop, config);
    server.setArgs(std::vector<std::string>(argv + 1, argv + argc));
    try {
      server.start();
      std::string where;
      if (server.boundPort() != 0) where = config.bind + ":" + std::to_string(server.boundPort());
      if (server.boundTlsPort() != 0)
        where += (where.empty() ? "" : ", ") + config.bind + ":" + std::to_string(server.boundTlsPort()) + " (TLS)";
      if (!config.unixsocket.empty()) where += (where.empty() ? "" : ", ") + config.unixsocket;
      spdlog::info("redis-cache-proxy {} listening on {} (HTTP and RESP); {}", RCP_VERSION, where, rcp::describe(config));
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      server.shutdown();
      rc = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  if (rc == 0) spdlog::info("stopped");
  return rc;
}
