// Appends replies in RESP2 or RESP3 to a byte buffer. RESP3-only types degrade to their RESP2
// equivalents the way Redis 7 does (map -> flat array, set -> array, double -> bulk string,
// null -> null bulk or null array, boolean -> integer, push -> array).
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

class ReplyWriter {
 public:
  ReplyWriter(std::string* out, int protocol) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }
  void set_protocol(int protocol) { protocol_ = protocol; }
  std::string* buffer() { return out_; }

  void Simple(std::string_view s);  // +OK
  void Ok() { Simple("OK"); }
  // `-msg`; a message without an upper-case error code gets "ERR " prepended, as addReplyError.
  void Error(std::string_view msg);
  // `-msg` exactly as given (scripts choose their own error codes); newlines still become spaces.
  void ErrorVerbatim(std::string_view msg);
  void Integer(long long v);
  void Bulk(std::string_view s);
  void NullBulk();   // RESP2 $-1, RESP3 _
  void NullArray();  // RESP2 *-1, RESP3 _
  void Array(size_t n);
  void Map(size_t n);  // n key/value pairs
  void Set(size_t n);
  void Push(size_t n);  // out-of-band message (pub/sub); `*` in RESP2
  void Double(double d);
  // A double already formatted (GEOPOS prints more digits than Double()).
  void DoubleText(std::string_view text);
  void Boolean(bool b);
  void Verbatim(std::string_view s, std::string_view format = "txt");
  // A number too big for Integer(), given as its digits: RESP3 `(`, a bulk string in RESP2.
  void BigNumber(std::string_view digits);
  // RESP3's attribute header (n key/value pairs that describe the reply after them). RESP2
  // has no attributes: the caller writes none there.
  void Attribute(size_t n) { Header('|', static_cast<long long>(n)); }
  // The bulk string, or a null bulk when `s` is null.
  void BulkOrNull(const std::string* s) { s ? Bulk(*s) : NullBulk(); }
  // One entry of a Map(): the name as a bulk string, then the value.
  void Field(std::string_view name, std::string_view value) {
    Bulk(name);
    Bulk(value);
  }
  template <std::integral Int>
  void Field(std::string_view name, Int value) {
    Bulk(name);
    Integer(static_cast<long long>(value));
  }
  // The value, or null when it is 0 (an unset time or id).
  template <std::integral Int>
  void FieldOrNull(std::string_view name, Int value) {
    Bulk(name);
    value ? Integer(static_cast<long long>(value)) : NullBulk();
  }
  // The value, or null when there is none (a time nobody told).
  template <std::integral Int>
  void FieldOrNull(std::string_view name, std::optional<Int> value) {
    Bulk(name);
    value ? Integer(static_cast<long long>(*value)) : NullBulk();
  }

 private:
  void Header(char type, long long n);
  void AppendLine(std::string_view text);

  std::string* out_;
  int protocol_;
};

// Appends the request `argv` to `out` as a client sends it: an array of bulk strings.
void AppendRequest(std::string* out, const std::vector<std::string>& argv);

// Formats a double the way Redis 7.0 replies with one: "%.17g", and "inf"/"-inf"/"nan".
std::string FormatDouble(double d);

}  // namespace resp
