// Logging set-up: spdlog to stderr, as text or as one JSON object per line (--log-format json).
#pragma once

#include <string>

namespace rcp {

// format: "text" or "json"; level: an spdlog level name.
void setupLogging(const std::string& format, const std::string& level);

}  // namespace rcp
