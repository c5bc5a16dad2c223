// Incremental parser for client requests: RESP2/RESP3 multibulk arrays of bulk strings, and the
// inline form that telnet users and `redis-cli` in some modes send. Knows nothing about servers.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

// Bounds on what one request may claim. Exceeding one is a protocol error, never an allocation.
struct ParseLimits {
  long long max_bulk_len = 512LL * 1024 * 1024;  // proto-max-bulk-len
  long long max_multibulk_len = 1024LL * 1024;   // arguments in one command
  size_t max_inline_len = 64 * 1024;             // an inline command or a header line
};

class RequestParser {
 public:
  enum class Status { kIncomplete, kComplete, kError };

  explicit RequestParser(ParseLimits limits = {}) : limits_(limits) {}

  // Consumes bytes from `data` and reports how many in `*consumed` (always set; bytes consumed
  // stay consumed even when the command is still incomplete, so callers may discard them).
  // kComplete: `*args` holds one command (possibly empty for a blank inline line, which callers
  // skip). kIncomplete: more input is needed. kError: `*error` holds the text after "ERR " of
  // Redis' protocol error; the connection must be closed after replying, and the parser is reset.
  Status Parse(const char* data, size_t len, size_t* consumed, std::vector<std::string>* args,
               std::string* error);

  // True while a multibulk request has been started but not finished.
  bool InRequest() const { return state_ != State::kIdle; }

 private:
  enum class State { kIdle, kBulkHeader, kBulkBody };

  Status ParseInline(const char* data, size_t len, size_t* consumed, std::vector<std::string>* args,
                     std::string* error);
  Status Fail(std::string* error, const char* what);

  ParseLimits limits_;
  State state_ = State::kIdle;
  long long remaining_args_ = 0;  // bulk strings still expected in the current multibulk
  long long bulk_len_ = 0;        // length of the bulk string being read (kBulkBody)
};

// A look-ahead for prefetching, not a parser: fills `keys` with the second argument (for most
// commands, the key) of each complete multibulk request at the start of `data`, in order, and
// returns how many it filled. Stops at the first request that is incomplete, inline, shorter than
// two arguments or malformed; validates nothing else.
size_t PeekKeys(const char* data, size_t len, std::span<std::string_view> keys);

// Splits an inline command line like sdssplitargs(): whitespace-separated words, "double quotes"
// with C escapes (\n, \xHH, ...), 'single quotes' with \' only. Returns false on unbalanced quotes.
bool SplitInlineArgs(const char* line, size_t len, std::vector<std::string>* out);

}  // namespace resp
