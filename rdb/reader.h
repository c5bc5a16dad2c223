// Reads RDB files and DUMP payloads: every type and encoding Redis 5.0 to 7.4 writes (RDB
// versions 9 to 12; older files share the structure and read too).
//
// Input is untrusted (RESTORE is open to clients, files come from anywhere): every length is
// checked against the bytes that remain, so corrupt or hostile input yields an error, never a
// crash, an out-of-bounds read or an allocation larger than the input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rdb/object.h"

namespace desaster::rdb {

// The newest RDB version this reader understands (Redis 7.4 writes 12).
constexpr int kMaxVersion = 12;

// One step of an RDB file, in file order.
struct Record {
  enum class Kind { kKey, kAux, kEnd };
  Kind kind = Kind::kEnd;
  int db = 0;                // kKey: its database (the SELECTDB before it)
  std::string key;           // kKey: the key; kAux: the field's name ("redis-ver", ...)
  std::string aux;           // kAux: the field's value
  Object value;              // kKey
  int64_t expire_at_ms = 0;  // kKey: when it expires, 0 for never
};

// Reads an RDB file held in memory (typically a mapped file), one record at a time.
class FileReader {
 public:
  // `data` must outlive the reader.
  explicit FileReader(std::string_view data) : data_(data) {}

  // Fills `out` with the next record: keys and aux fields, then one kEnd once the end marker
  // and the checksum were read and checked. False on corrupt input (see error()) and after kEnd.
  bool Next(Record* out);

  int version() const { return version_; }
  size_t offset() const { return pos_; }  // bytes consumed so far
  const std::string& error() const { return error_; }
  // What the reader passed over rather than understood (module data, function libraries,
  // empty keys), one line each.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  int version_ = 0;
  int db_ = 0;
  bool done_ = false;
  std::string error_;
  std::vector<std::string> warnings_;
};

// Decodes a DUMP payload (one object, the RDB version it was written with and a CRC-64).
// False with an error in Redis' words ("DUMP payload version or checksum are wrong",
// "Bad data format") when it is not a valid payload of a non-empty value.
bool DecodeDump(std::string_view payload, Object* out, std::string* error);
// Decodes a FUNCTION DUMP payload into each library's code, in order. False with an error in
// Redis' words when it is not one Redis 7.0 would restore.
bool DecodeFunctions(std::string_view payload, std::vector<std::string>* codes, std::string* error);

}  // namespace desaster::rdb
