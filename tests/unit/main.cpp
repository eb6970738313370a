// doctest runner for the unit tests. The in-process tests of the middle run the real backend link,
// which logs its connects and losses: only errors are shown (RCP_TEST_LOG=info shows them all).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

int main(int argc, char** argv) {
  const char* level = std::getenv("RCP_TEST_LOG");
  spdlog::set_level(spdlog::level::from_str(level != nullptr ? level : "error"));
  return doctest::Context(argc, argv).run();
}
