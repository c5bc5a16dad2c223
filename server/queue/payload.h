// A job's payload, kept compressed in memory while the job waits.
//
// A queue with a backlog holds millions of payloads that nobody reads until a worker takes them.
// Payloads of one queue look alike (the same classes, argument shapes, keys), so each compresses
// well against a dictionary made of a few of its neighbours, where a payload alone would barely
// shrink. Only memory holds the compressed form: the store keeps plain payloads.
//
// LZ4, not zstd: against the same dictionary a 280-byte job with all-new ids took 106 bytes with
// LZ4 and 79 with zstd, but decompressed in 0.06 µs against 1.5 µs, and a search reads every job
// of a backlog (a million in 0.12 s plain, 1.4 s with zstd).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/queue/packed_string.h"

namespace desaster {

// The dictionary made of sample payloads of one queue. Every payload compressed against it holds
// a reference, so it outlives its queue while any of them lives (jobs move between queues).
class PayloadDictionary {
 public:
  struct Unref {
    void operator()(PayloadDictionary* d) const { d->Drop(); }
  };
  // A dictionary of `samples` (payloads concatenated, at most kMaxSize bytes), referenced by the
  // pointer returned.
  static constexpr size_t kMaxSize = 64 << 10;
  static std::unique_ptr<PayloadDictionary, Unref> Make(std::string_view samples);
  void Ref() { refs_++; }
  // Deletes the dictionary with its last reference.
  void Drop();

 private:
  friend class Payload;
  explicit PayloadDictionary(std::string_view samples) : content_(samples) {}

  uint64_t refs_ = 1;  // the maker's
  std::string content_;
};

using PayloadDictionaryRef = std::unique_ptr<PayloadDictionary, PayloadDictionary::Unref>;

// Process-wide totals of the compressed payloads in memory (INFO memory).
struct PayloadCompressionStats {
  uint64_t payloads = 0;               // compressed payloads
  uint64_t stored_bytes = 0;           // what they take compressed
  uint64_t original_bytes = 0;         // what they would take plain
  uint64_t decompressed_in_place = 0;  // ever: read (view()) and kept plain again
};
const PayloadCompressionStats& CompressionStats();

class Payload {
 public:
  // Shorter payloads would save less than the compressed form's header (a dictionary reference
  // and a size) costs; longer ones are rare, and each read of one would decompress it whole.
  static constexpr size_t kMinCompressed = 64;
  static constexpr size_t kMaxCompressed = 64 << 10;

  Payload() = default;
  Payload(std::string_view s) : bytes_(s) {}  // NOLINT: converts like std::string
  Payload(const Payload& o);
  Payload(Payload&& o) noexcept;
  Payload& operator=(const Payload& o);
  Payload& operator=(Payload&& o) noexcept;
  Payload& operator=(std::string_view s);
  ~Payload() { Release(); }

  // The plain bytes. A compressed payload is decompressed in place first: the view lasts until
  // the payload is assigned or compressed again (Compress runs only between commands).
  std::string_view view() const;
  operator std::string_view() const { return view(); }  // NOLINT: reads like std::string
  // The plain bytes without changing how they are held: a compressed payload is decompressed
  // into `scratch`. For scans over many jobs, which would otherwise inflate them all.
  std::string_view Read(std::string* scratch) const;
  std::string str() const;
  bool empty() const { return bytes_.empty(); }
  bool compressed() const { return form_ == Form::kCompressed; }
  // Whether Compress may be worth calling: plain, of a size that pays, and not already found
  // not to shrink.
  bool Compressible() const;
  // Compresses against `dictionary` (referenced while the payload holds the result). A payload
  // the compression would not make smaller stays plain and is not tried again until it is
  // assigned. Returns whether it is compressed now.
  bool Compress(PayloadDictionary* dictionary);
  friend bool operator==(const Payload& a, std::string_view b) { return a.view() == b; }

 private:
  enum class Form : uint8_t { kPlain, kCompressed, kIncompressible };
  // Compressed bytes: the dictionary's address, the plain size (u32), then the LZ4 block.
  struct Header {
    PayloadDictionary* dictionary;
    uint32_t original_size;
  };
  Header header() const;
  std::string_view block() const;
  // Decompresses into `out` (its previous contents are replaced).
  void Decompress(std::string* out) const;
  // Takes (Hold) or drops (Release) the compressed form's dictionary reference and its share
  // of the statistics. Release leaves the bytes to the caller to replace.
  void Hold() const;
  void Release() const;

  mutable PackedString bytes_;
  mutable Form form_ = Form::kPlain;
};

}  // namespace desaster
