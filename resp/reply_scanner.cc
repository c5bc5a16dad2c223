#include "resp/reply_scanner.h"

#include <charconv>

namespace resp {
namespace {

bool ParseLength(std::string_view text, int64_t* n) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *n);
  return ec == std::errc() && end == text.data() + text.size() && *n >= -1;
}

}  // namespace

bool ReplyScanner::EndValue() {
  while (!remaining_.empty()) {
    if (--remaining_.back() > 0) return false;
    remaining_.pop_back();  // the aggregate is complete: a value of the one around it
  }
  return true;
}

ReplyScanner::Status ReplyScanner::Scan(std::string_view stream, size_t* length, bool* push) {
  auto complete = [&] {
    *length = pos_;
    *push = push_;
    pos_ = 0;
    started_ = push_ = false;
    return Status::kComplete;
  };
  while (true) {
    if (in_body_) {
      if (stream.size() - pos_ < skip_) return Status::kIncomplete;
      pos_ += skip_;
      in_body_ = false;
      if (stream[pos_ - 2] != '\r' || stream[pos_ - 1] != '\n') return Status::kError;
      if (EndValue()) return complete();
      continue;
    }
    if (pos_ >= stream.size()) return Status::kIncomplete;
    size_t eol = stream.find("\r\n", pos_);
    if (eol == std::string_view::npos) {
      return stream.size() - pos_ > max_line_ ? Status::kError : Status::kIncomplete;
    }
    char type = stream[pos_];
    std::string_view line = stream.substr(pos_ + 1, eol - pos_ - 1);
    pos_ = eol + 2;
    if (!started_) {
      started_ = true;
      push_ = type == '>';
    }
    int64_t n = 0;
    switch (type) {
      case '+':  // simple string
      case '-':  // error
      case ':':  // integer
      case ',':  // double
      case '(':  // big number
      case '#':  // boolean
      case '_':  // null
        if (EndValue()) return complete();
        break;
      case '$':  // bulk string
      case '=':  // verbatim string
      case '!':  // bulk error
        if (!ParseLength(line, &n)) return Status::kError;
        if (n == -1) {
          if (EndValue()) return complete();
          break;
        }
        skip_ = static_cast<uint64_t>(n) + 2;
        in_body_ = true;
        break;
      case '*':  // array
      case '~':  // set
      case '>':  // push
      case '%':  // map: n pairs
      case '|':  // attribute: n pairs, then the value they describe
      {
        if (!ParseLength(line, &n)) return Status::kError;
        uint64_t values = n < 0 ? 0 : static_cast<uint64_t>(n);
        if (type == '%' || type == '|') values *= 2;
        if (type == '|') values += 1;
        if (values == 0) {
          if (EndValue()) return complete();
          break;
        }
        remaining_.push_back(values);
        break;
      }
      default:
        return Status::kError;
    }
  }
}

}  // namespace resp
