// The Host check that keeps a web page from reading keys through a DNS-rebinding name: a request's
// Host header must name this proxy as the operator allows it.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace rcp::http {

// True when host (the Host header's value; surrounding whitespace ignored, compared
// case-insensitively) is one of allowed (lower case, each as it may appear, with or without a
// port); "*" in allowed lets any host through. Compares lengths first: no parsing, no allocation.
bool hostAllowed(std::string_view host, std::span<const std::string> allowed);

}  // namespace rcp::http
