// The open-files limit (see fd_limit.h).
#include "src/server/fd_limit.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>

namespace rcp {

namespace {
constexpr rlim_t kReservedFds = 32;  // listeners, backend links, the loop's own descriptors
}  // namespace

size_t raiseOpenFilesLimit(size_t max_clients) {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return 0;
  rlim_t want = static_cast<rlim_t>(max_clients) + kReservedFds;
  if (nofile.rlim_cur < want) {
    rlimit raised = nofile;
    raised.rlim_cur = nofile.rlim_max == RLIM_INFINITY ? want : std::min(want, nofile.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
    if (nofile.rlim_cur < want)
      spdlog::warn("the open-files limit is {}: fewer than --max-clients {} clients can connect at once",
                   static_cast<unsigned long long>(nofile.rlim_cur), max_clients);
  }
  return static_cast<size_t>(nofile.rlim_cur);
}

}  // namespace rcp
