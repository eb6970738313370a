// The open-files limit that --max-clients needs: as many descriptors as clients, plus a few for the
// listeners, the backend links and the loop. Raised towards the hard limit, as Redis does, at
// start-up and again when a reload raises --max-clients.
#pragma once

#include <cstddef>

namespace rcp {

// Raises the soft RLIMIT_NOFILE to cover max_clients when it is lower (never lowers it); warns
// when the hard limit does not allow it. Returns the soft limit in force afterwards.
size_t raiseOpenFilesLimit(size_t max_clients);

}  // namespace rcp
