// hiredis reader internals (see hiredis_reader.h). Written against hiredis 0.14 (Debian bookworm):
// the fields used here (buf, pos, len, ridx, rstack, errstr) and the sds calls have this
// shape in 0.13 and 0.14; hiredis 1.x changed the reader (RESP3), so other majors are refused.
#include "resp/hiredis_reader.h"

extern "C" {
#include <hiredis/sds.h>  // first: hiredis.h includes it without C linkage
}
#include <hiredis/hiredis.h>  // HIREDIS_MAJOR, HIREDIS_MINOR
#include <hiredis/read.h>

#include <new>

#if HIREDIS_MAJOR != 0 || HIREDIS_MINOR < 13
#error "resp/hiredis_reader.cpp reads hiredis 0.13/0.14 reader internals; review it for this hiredis version"
#endif

namespace rcp::resp::hiredis {

redisReader* create(redisReplyObjectFunctions* functions, void* privdata) {
  redisReader* r = redisReaderCreateWithFunctions(functions);
  if (r == nullptr) throw std::bad_alloc();
  r->privdata = privdata;
  return r;
}

void destroy(redisReader* r) noexcept { redisReaderFree(r); }

bool feed(redisReader* r, const char* data, size_t len) noexcept {
  return len == 0 || redisReaderFeed(r, data, len) == REDIS_OK;
}

bool getReply(redisReader* r, void** reply) noexcept { return redisReaderGetReply(r, reply) == REDIS_OK; }

const char* error(const redisReader* r) noexcept { return r->errstr; }

bool betweenReplies(const redisReader* r) noexcept { return r->ridx == -1; }

std::string_view unread(const redisReader* r) noexcept { return {r->buf + r->pos, r->len - r->pos}; }

void consume(redisReader* r, size_t n) noexcept { r->pos += n; }

void compact(redisReader* r) noexcept {
  if (r->pos == 0) return;
  if (r->pos >= r->len) {
    sdsclear(r->buf);
  } else {
    sdsrange(r->buf, static_cast<int>(r->pos), -1);
  }
  r->pos = 0;
  r->len = sdslen(r->buf);
}

bool atBulkLength(const redisReader* r) noexcept {
  // The reader consumes an item's type byte before its length line: a string task in progress
  // has its length digits at the cursor.
  return r->ridx >= 0 && r->rstack[r->ridx].type == REDIS_REPLY_STRING;
}

}  // namespace rcp::resp::hiredis
