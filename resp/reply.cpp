// RESP2 reply encoding (see reply.h).
#include "resp/reply.h"

#include <charconv>

namespace rcp::resp {

namespace {
void appendNumberLine(std::string& out, char type, long long v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.push_back(type);
  out.append(buf, r.ptr);
  out.append("\r\n", 2);
}
}  // namespace

void appendSimple(std::string& out, std::string_view s) {
  out.push_back('+');
  out.append(s);
  out.append("\r\n", 2);
}

void appendError(std::string& out, std::string_view msg) {
  out.push_back('-');
  out.append(msg);
  out.append("\r\n", 2);
}

void appendInteger(std::string& out, long long v) { appendNumberLine(out, ':', v); }

void appendBulk(std::string& out, std::string_view s) {
  appendNumberLine(out, '$', static_cast<long long>(s.size()));
  out.append(s);
  out.append("\r\n", 2);
}

void appendNil(std::string& out) { out.append("$-1\r\n", 5); }

void appendArrayHeader(std::string& out, long long n) { appendNumberLine(out, '*', n); }

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  appendArrayHeader(out, static_cast<long long>(args.size()));
  for (std::string_view a : args) appendBulk(out, a);
}

std::string oneLine(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) r.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return r;
}

}  // namespace rcp::resp
