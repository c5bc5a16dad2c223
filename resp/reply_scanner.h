// Finds where replies end in a stream of RESP2/RESP3 replies without building them: what a
// proxy needs to pass replies on whole, one per request. Knows nothing about servers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

class ReplyScanner {
 public:
  enum class Status { kIncomplete, kComplete, kError };

  // Scans `stream` from where the previous call stopped (the caller passes the same stream,
  // grown, until a reply completes). kComplete: `*length` is the reply's size in bytes, from
  // the start of `stream`; `*push` says whether it is an out-of-band RESP3 push (pub/sub), which
  // answers no request; the caller drops those bytes and scans on. kIncomplete: more bytes are
  // needed. kError: the stream is not RESP (or a line is over `max_line` bytes); it cannot be
  // scanned further.
  Status Scan(std::string_view stream, size_t* length, bool* push);

  explicit ReplyScanner(size_t max_line = 64 * 1024 * 1024) : max_line_(max_line) {}

 private:
  // Ends one value at pos_: its enclosing aggregates count it; true when that ends the reply.
  bool EndValue();

  size_t max_line_;
  size_t pos_ = 0;                   // bytes of the current reply scanned
  uint64_t skip_ = 0;                // bytes of a bulk body (and its CRLF) still to pass over
  bool in_body_ = false;             // passing over a bulk body
  bool push_ = false;                // the current reply is a push
  bool started_ = false;             // the current reply's first type byte was seen
  std::vector<uint64_t> remaining_;  // values still expected by each open aggregate
};

}  // namespace resp
