// The text of RESP INFO: the proxy's own counters in Redis's "# Section" / "field:value" layout.
#pragma once

#include <string>
#include <string_view>

namespace rcp {

class Server;

// section: "default", "all", "everything" or one section name (case-insensitive).
std::string infoText(Server& server, std::string_view section);

}  // namespace rcp
