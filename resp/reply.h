// RESP2 reply encoding for the replies the proxy writes itself. Each function appends to out.
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

// Encodes a command as a multibulk request (what the backend link sends).
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);
void appendCommand(std::string& out, std::span<const std::string_view> args);

// Strips CR and LF from text meant for a one-line reply (+/-), so no reply can inject a line.
std::string oneLine(std::string_view s);

}  // namespace rcp::resp
