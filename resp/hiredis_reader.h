// The one place that reads hiredis's reader internals (its buffer cursor and task stack) or calls
// sds. The parsers use hiredis's public object-callback API for values; what that API does not
// offer (cutting inline commands from the buffer, peeking at a pending bulk length, compacting) is done here, checked against the hiredis version it was written for.
#pragma once

#include <cstddef>
#include <string_view>

struct redisReader;
struct redisReplyObjectFunctions;

namespace rcp::resp::hiredis {

// A reader with the given object callbacks; privdata reaches them as task->privdata. Throws
// std::bad_alloc when hiredis cannot allocate.
redisReader* create(redisReplyObjectFunctions* functions, void* privdata);
void destroy(redisReader* r) noexcept;

// False when hiredis could not buffer the bytes (out of memory).
bool feed(redisReader* r, const char* data, size_t len) noexcept;
// hiredis's redisReaderGetReply: false on a protocol error; *reply stays null until a whole reply.
bool getReply(redisReader* r, void** reply) noexcept;
const char* error(const redisReader* r) noexcept;

// True between replies (no reply half read).
bool betweenReplies(const redisReader* r) noexcept;
// The bytes received and not yet consumed.
std::string_view unread(const redisReader* r) noexcept;
// Consumes n bytes of unread() without parsing them (an inline command cut by the caller).
// Only between replies.
void consume(redisReader* r, size_t n) noexcept;
// Drops consumed bytes from the front of the buffer. Only between replies.
void compact(redisReader* r) noexcept;
// True while the reply in progress stopped at a bulk string's length line, which is then at
// the front of unread().
bool atBulkLength(const redisReader* r) noexcept;

}  // namespace rcp::resp::hiredis
