// Reply encoding (see reply.h).
#include "resp/reply.h"

#include <charconv>
#include <cstring>

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

void appendNull(std::string& out, int proto) {
  if (proto >= 3) out.append("_\r\n", 3);
  else appendNil(out);
}

void appendMapHeader(std::string& out, long long pairs, int proto) {
  if (proto >= 3) appendNumberLine(out, '%', pairs);
  else appendNumberLine(out, '*', pairs * 2);
}

void appendSetHeader(std::string& out, long long n, int proto) { appendNumberLine(out, proto >= 3 ? '~' : '*', n); }

void appendVerbatim(std::string& out, std::string_view s, int proto) {
  if (proto < 3) {
    appendBulk(out, s);
    return;
  }
  appendNumberLine(out, '=', static_cast<long long>(s.size() + 4));
  out.append("txt:", 4);
  out.append(s);
  out.append("\r\n", 2);
}

namespace {
size_t decimalDigits(size_t v) noexcept {
  size_t n = 1;
  for (; v >= 10; v /= 10) ++n;
  return n;
}
char* putNumberLine(char* w, char type, size_t v, size_t digits) noexcept {
  *w++ = type;
  std::to_chars(w, w + digits, v);
  w += digits;
  *w++ = '\r';
  *w++ = '\n';
  return w;
}
}  // namespace

// Every backend GET is written through here, so the command is sized first and written in one pass.
void appendCommand(std::string& out, std::span<const std::string_view> args) {
  size_t total = 3 + decimalDigits(args.size());
  for (std::string_view a : args) total += 5 + decimalDigits(a.size()) + a.size();
  size_t old = out.size();
  out.resize(old + total);
  char* w = out.data() + old;
  w = putNumberLine(w, '*', args.size(), decimalDigits(args.size()));
  for (std::string_view a : args) {
    w = putNumberLine(w, '$', a.size(), decimalDigits(a.size()));
    if (!a.empty()) std::memcpy(w, a.data(), a.size());
    w += a.size();
    *w++ = '\r';
    *w++ = '\n';
  }
}

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  appendCommand(out, std::span<const std::string_view>(args.begin(), args.size()));
}

bool parseInteger(std::string_view s, long long* out) noexcept {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string oneLine(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) r.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return r;
}

}  // namespace rcp::resp
