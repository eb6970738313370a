// A latency histogram in fixed buckets (upper bounds in seconds), as Prometheus renders it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace rcp {

class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  void observe(uint64_t ns, uint64_t times = 1) noexcept {
    double s = static_cast<double>(ns) / 1e9;
    size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    counts_[i] += times;
    count_ += times;
    sum_ns_ += ns * times;
  }
  const std::array<uint64_t, kBounds.size() + 1>& counts() const noexcept { return counts_; }  // last: +Inf
  uint64_t count() const noexcept { return count_; }
  double sumSeconds() const noexcept { return static_cast<double>(sum_ns_) / 1e9; }

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // per bucket, not cumulative
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
};

}  // namespace rcp
