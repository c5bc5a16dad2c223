#include "resp/parser.h"

#include <algorithm>
#include <cstring>

namespace resp {
namespace {

// Parses a non-negative or negative decimal integer occupying exactly [p, p+len).
bool ParseLongLong(const char* p, size_t len, long long* out) {
  if (len == 0 || len > 20) return false;
  bool negative = false;
  size_t i = 0;
  if (p[0] == '-') {
    negative = true;
    i = 1;
    if (len == 1) return false;
  }
  unsigned long long v = 0;
  for (; i < len; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    unsigned long long next = v * 10 + static_cast<unsigned>(p[i] - '0');
    if (next / 10 != v) return false;
    v = next;
  }
  if (negative) {
    if (v > static_cast<unsigned long long>(INT64_MAX) + 1) return false;
    *out = static_cast<long long>(0 - v);
  } else {
    if (v > static_cast<unsigned long long>(INT64_MAX)) return false;
    *out = static_cast<long long>(v);
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0'; }

}  // namespace

size_t PeekKeys(const char* data, size_t len, std::span<std::string_view> keys) {
  // The number in a header ("*3\r\n", "$5\r\n") at `pos`, and `pos` moved past its line, which
  // must be all there. A header longer than a 64-bit number's is not looked through.
  auto header = [&](size_t& pos, char type, long long* n) {
    if (pos >= len || data[pos] != type) return false;
    const void* cr = std::memchr(data + pos, '\r', std::min<size_t>(len - pos, 24));
    if (cr == nullptr) return false;
    size_t end = static_cast<size_t>(static_cast<const char*>(cr) - data);
    if (end + 1 >= len || !ParseLongLong(data + pos + 1, end - pos - 1, n) || *n < 0) return false;
    pos = end + 2;
    return true;
  };
  size_t found = 0, pos = 0;
  while (found < keys.size()) {
    long long args = 0;
    if (!header(pos, '*', &args) || args < 2) break;
    for (long long i = 0; i < args; i++) {
      long long size = 0;
      if (!header(pos, '$', &size) || len - pos < static_cast<size_t>(size) + 2) {
        return found;
      }
      if (i == 1) keys[found] = std::string_view(data + pos, static_cast<size_t>(size));
      pos += static_cast<size_t>(size) + 2;
    }
    found++;
  }
  return found;
}

bool SplitInlineArgs(const char* line, size_t len, std::vector<std::string>* out) {
  size_t i = 0;
  while (true) {
    while (i < len && IsSpace(line[i])) i++;
    if (i >= len) return true;
    std::string word;
    bool in_double = false, in_single = false;
    while (true) {
      if (in_double) {
        if (i >= len) return false;
        char c = line[i];
        if (c == '\\' && i + 3 < len && line[i + 1] == 'x' && HexValue(line[i + 2]) >= 0 &&
            HexValue(line[i + 3]) >= 0) {
          word.push_back(static_cast<char>(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < len) {
          char e = line[++i];
          switch (e) {
            case 'n':
              word.push_back('\n');
              break;
            case 'r':
              word.push_back('\r');
              break;
            case 't':
              word.push_back('\t');
              break;
            case 'b':
              word.push_back('\b');
              break;
            case 'a':
              word.push_back('\a');
              break;
            default:
              word.push_back(e);
              break;
          }
          i++;
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end of the line.
          if (i + 1 < len && !IsSpace(line[i + 1])) return false;
          i++;
          break;
        } else {
          word.push_back(c);
          i++;
        }
      } else if (in_single) {
        if (i >= len) return false;
        char c = line[i];
        if (c == '\\' && i + 1 < len && line[i + 1] == '\'') {
          word.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < len && !IsSpace(line[i + 1])) return false;
          i++;
          break;
        } else {
          word.push_back(c);
          i++;
        }
      } else {
        if (i >= len || IsSpace(line[i])) break;
        char c = line[i++];
        if (c == '"') {
          in_double = true;
        } else if (c == '\'') {
          in_single = true;
        } else {
          word.push_back(c);
        }
      }
    }
    out->push_back(std::move(word));
  }
}

RequestParser::Status RequestParser::Fail(std::string* error, const char* what) {
  *error = std::string("Protocol error: ") + what;
  state_ = State::kIdle;
  remaining_args_ = 0;
  return Status::kError;
}

RequestParser::Status RequestParser::ParseInline(const char* data, size_t len, size_t* consumed,
                                                 std::vector<std::string>* args,
                                                 std::string* error) {
  const char* nl = static_cast<const char*>(memchr(data, '\n', len));
  if (nl == nullptr) {
    if (len > limits_.max_inline_len) return Fail(error, "too big inline request");
    return Status::kIncomplete;
  }
  size_t line_len = static_cast<size_t>(nl - data);
  if (line_len > limits_.max_inline_len) return Fail(error, "too big inline request");
  *consumed = line_len + 1;
  if (line_len > 0 && data[line_len - 1] == '\r') line_len--;
  if (!SplitInlineArgs(data, line_len, args)) return Fail(error, "unbalanced quotes in request");
  return Status::kComplete;
}

RequestParser::Status RequestParser::Parse(const char* data, size_t len, size_t* consumed,
                                           std::vector<std::string>* args, std::string* error) {
  *consumed = 0;
  size_t pos = 0;
  if (state_ == State::kIdle) {
    if (len == 0) return Status::kIncomplete;
    args->clear();
    if (data[0] != '*') return ParseInline(data, len, consumed, args, error);
    const char* cr = static_cast<const char*>(memchr(data, '\r', len));
    if (cr == nullptr) {
      if (len > limits_.max_inline_len) return Fail(error, "too big mbulk count string");
      return Status::kIncomplete;
    }
    size_t line_end = static_cast<size_t>(cr - data);
    if (line_end + 1 >= len) return Status::kIncomplete;  // need the '\n' too
    long long count = 0;
    if (!ParseLongLong(data + 1, line_end - 1, &count) || count > limits_.max_multibulk_len) {
      return Fail(error, "invalid multibulk length");
    }
    pos = line_end + 2;
    *consumed = pos;
    if (count <= 0) return Status::kComplete;  // "*0" and "*-1" are empty commands
    args->reserve(static_cast<size_t>(count < 1024 ? count : 1024));
    remaining_args_ = count;
    state_ = State::kBulkHeader;
  }

  while (remaining_args_ > 0) {
    if (state_ == State::kBulkHeader) {
      if (pos >= len) return Status::kIncomplete;
      const char* cr = static_cast<const char*>(memchr(data + pos, '\r', len - pos));
      if (cr == nullptr) {
        if (len - pos > limits_.max_inline_len) return Fail(error, "too big bulk count string");
        return Status::kIncomplete;
      }
      size_t line_end = static_cast<size_t>(cr - data);
      if (line_end + 1 >= len) return Status::kIncomplete;
      if (data[pos] != '$') {
        std::string what = "expected '$', got '";
        what.push_back(data[pos]);
        what.push_back('\'');
        return Fail(error, what.c_str());
      }
      long long blen = 0;
      if (!ParseLongLong(data + pos + 1, line_end - pos - 1, &blen) || blen < 0 ||
          blen > limits_.max_bulk_len) {
        return Fail(error, "invalid bulk length");
      }
      pos = line_end + 2;
      *consumed = pos;
      bulk_len_ = blen;
      state_ = State::kBulkBody;
    }
    // kBulkBody: wait until the whole body and its CRLF are here, then take it at once.
    size_t need = static_cast<size_t>(bulk_len_) + 2;
    if (len - pos < need) return Status::kIncomplete;
    args->emplace_back(data + pos, static_cast<size_t>(bulk_len_));
    pos += need;
    *consumed = pos;
    remaining_args_--;
    state_ = State::kBulkHeader;
  }
  state_ = State::kIdle;
  return Status::kComplete;
}

}  // namespace resp
