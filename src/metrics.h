// The proxy's counters as one snapshot, rendered two ways: Prometheus text for the admin
// listener's /metrics, and the "# Section" / "field:value" text of RESP INFO.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rcp {

class Server;

enum class Proto : uint8_t { kResp = 0, kHttp = 1 };
enum class Outcome : uint8_t { kHit = 0, kMiss = 1, kError = 2 };

// Backend request latency, send to reply, in fixed buckets (upper bounds in seconds).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  void observe(uint64_t ns) noexcept;
  const std::array<uint64_t, kBounds.size() + 1>& counts() const noexcept { return counts_; }  // last: +Inf
  uint64_t count() const noexcept { return count_; }
  double sumSeconds() const noexcept { return static_cast<double>(sum_ns_) / 1e9; }

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // per bucket, not cumulative
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
};

std::string prometheusText(Server& server);
// section: "default", "all", "everything" or one section name (case-insensitive).
std::string infoText(Server& server, std::string_view section);

}  // namespace rcp
