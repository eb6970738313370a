// One Prometheus metric at a time: its HELP and TYPE lines, then its value (rcp_ prefixed). Shared
// by the renderings of metrics.cpp and its sections beside it.
#pragma once

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <string_view>

namespace rcp {

inline auto metricWriter(std::string& o) {
  return [&o](std::string_view name, std::string_view type, std::string_view help, auto value) {
    fmt::format_to(std::back_inserter(o), "# HELP rcp_{} {}\n# TYPE rcp_{} {}\nrcp_{} {}\n", name, help, name, type,
                   name, value);
  };
}

}  // namespace rcp
