// Backend reply reading on hiredis's reader (see reply_reader.h).
#include "resp/reply_reader.h"

#include <hiredis/read.h>

#include <new>

namespace rcp::resp {

namespace {
int marker;
void* kNested = &marker;  // stands for values inside arrays, which the proxy does not keep
}  // namespace

struct ReplyCallbacks {
  static ReplyReader* self(const redisReadTask* t) { return static_cast<ReplyReader*>(t->privdata); }

  static void* createString(const redisReadTask* t, char* s, size_t n) {
    if (t->parent != nullptr) return kNested;
    ReplyReader* r = self(t);
    ReplyReader::Reply& c = r->current_;
    if (t->type == REDIS_REPLY_STRING) {
      c.type = ReplyReader::Type::kString;
      c.object = r->factory_(r->ctx_, s, n);
      return c.object;  // null fails the stream (out of memory)
    }
    c.type = t->type == REDIS_REPLY_ERROR ? ReplyReader::Type::kError : ReplyReader::Type::kStatus;
    r->text_.assign(s, n);
    return kNested;
  }
  static void* createArray(const redisReadTask* t, int elements) {
    if (t->parent == nullptr) {
      ReplyReader::Reply& c = self(t)->current_;
      c.type = ReplyReader::Type::kArray;
      c.integer = elements;
    }
    return kNested;
  }
  static void* createInteger(const redisReadTask* t, long long v) {
    if (t->parent == nullptr) {
      ReplyReader::Reply& c = self(t)->current_;
      c.type = ReplyReader::Type::kInteger;
      c.integer = v;
    }
    return kNested;
  }
  static void* createNil(const redisReadTask* t) {
    if (t->parent == nullptr) {
      ReplyReader::Reply& c = self(t)->current_;
      c.type = t->type == REDIS_REPLY_ARRAY ? ReplyReader::Type::kArray : ReplyReader::Type::kNil;
      c.integer = -1;
    }
    return kNested;
  }
  static void freeObject(void*) {}
};

namespace {
redisReplyObjectFunctions kFunctions = {
    ReplyCallbacks::createString, ReplyCallbacks::createArray, ReplyCallbacks::createInteger,
    ReplyCallbacks::createNil, ReplyCallbacks::freeObject};
}  // namespace

ReplyReader::ReplyReader(Factory factory, Destroy destroy, void* ctx)
    : factory_(factory), destroy_(destroy), ctx_(ctx) {
  reader_ = redisReaderCreateWithFunctions(&kFunctions);
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->privdata = this;
}

ReplyReader::~ReplyReader() { redisReaderFree(reader_); }

bool ReplyReader::feed(const char* data, size_t len) {
  return len == 0 || redisReaderFeed(reader_, data, len) == REDIS_OK;
}

ReplyReader::Status ReplyReader::next(Reply& out) {
  // current_ describes the top-level reply being read; an array's header can arrive in an earlier
  // call than its elements, so it is reset only once a reply has been handed out.
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
    // A string object built before the failure is the caller's to free.
    if (current_.type == Type::kString && current_.object != nullptr) destroy_(current_.object);
    current_ = Reply{};
    return Status::kError;
  }
  if (reply == nullptr) return Status::kNeedMore;
  out = current_;
  current_ = Reply{};
  if (out.type == Type::kStatus || out.type == Type::kError) out.text = text_;
  return Status::kReply;
}

std::string_view ReplyReader::error() const noexcept { return reader_->errstr; }

}  // namespace rcp::resp
