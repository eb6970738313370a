// Reply encoding for the replies the proxy writes itself, in RESP2 or, for a client that sent
// HELLO 3, RESP3 (the functions that take a protocol version shape the value as Redis would for it).
// Each function appends to out.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace rcp::resp {

void appendSimple(std::string& out, std::string_view s);          // +s\r\n
void appendError(std::string& out, std::string_view msg);         // -msg\r\n (msg carries its prefix, e.g. "ERR ...")
void appendInteger(std::string& out, long long v);                 // :v\r\n
void appendBulk(std::string& out, std::string_view s);            // $len\r\ns\r\n
void appendNil(std::string& out);                                  // $-1\r\n
void appendArrayHeader(std::string& out, long long n);             // *n\r\n

// The shapes RESP3 adds, falling back to their RESP2 form for proto 2.
void appendNull(std::string& out, int proto);                      // _ (3) or $-1 (2)
void appendMapHeader(std::string& out, long long pairs, int proto); // %n (3) or *2n (2)
void appendSetHeader(std::string& out, long long n, int proto);    // ~n (3) or *n (2)
// A verbatim string of format "txt" (INFO, CLIENT INFO, CLIENT LIST): =len\r\ntxt:s (3) or a bulk string (2).
void appendVerbatim(std::string& out, std::string_view s, int proto);

// Encodes a command as a multibulk request (what the backend link sends).
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);
void appendCommand(std::string& out, std::span<const std::string_view> args);

// Strips CR and LF from text meant for a one-line reply (+/-), so no reply can inject a line.
std::string oneLine(std::string_view s);

// An integer argument as Redis reads one (getLongLongFromObject): the whole string, not empty.
bool parseInteger(std::string_view s, long long* out) noexcept;

}  // namespace rcp::resp
