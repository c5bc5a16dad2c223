#include "server/queue/payload.h"

#include <lz4.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "server/log.h"

namespace desaster {
namespace {

// The compressed form's header: the dictionary's address and the plain size.
constexpr size_t kHeaderSize = sizeof(PayloadDictionary*) + sizeof(uint32_t);

PayloadCompressionStats stats;

}  // namespace

const PayloadCompressionStats& CompressionStats() { return stats; }

PayloadDictionaryRef PayloadDictionary::Make(std::string_view samples) {
  return PayloadDictionaryRef(new PayloadDictionary(samples.substr(0, kMaxSize)));
}

void PayloadDictionary::Drop() {
  if (--refs_ == 0) delete this;
}

Payload::Payload(const Payload& o) : bytes_(o.bytes_), form_(o.form_) {
  if (compressed()) Hold();
}

Payload::Payload(Payload&& o) noexcept
    : bytes_(std::move(o.bytes_)), form_(std::exchange(o.form_, Form::kPlain)) {}

Payload& Payload::operator=(const Payload& o) {
  if (this != &o) *this = Payload(o);
  return *this;
}

Payload& Payload::operator=(Payload&& o) noexcept {
  std::swap(bytes_, o.bytes_);
  std::swap(form_, o.form_);
  return *this;
}

Payload& Payload::operator=(std::string_view s) {
  // `s` may be this payload's own plain bytes: PackedString copies them before freeing.
  Release();
  form_ = Form::kPlain;
  bytes_ = s;
  return *this;
}

std::string_view Payload::view() const {
  if (compressed()) {
    thread_local std::string plain;
    Decompress(&plain);
    Release();
    stats.decompressed_in_place++;
    bytes_ = plain;
    form_ = Form::kPlain;
  }
  return bytes_.view();
}

std::string_view Payload::Read(std::string* scratch) const {
  if (!compressed()) return bytes_.view();
  Decompress(scratch);
  return *scratch;
}

std::string Payload::str() const {
  if (!compressed()) return bytes_.str();
  std::string out;
  Decompress(&out);
  return out;
}

bool Payload::Compressible() const {
  if (form_ != Form::kPlain) return false;  // without reading the bytes: a round reads millions
  size_t size = bytes_.view().size();
  return size >= kMinCompressed && size <= kMaxCompressed;
}

bool Payload::Compress(PayloadDictionary* dictionary) {
  if (!Compressible()) return compressed();
  std::string_view plain = bytes_.view();
  // LZ4's stable interface takes a dictionary into a stream for each compression (about 1 µs
  // for eight jobs' worth, in the loop's idle time).
  thread_local std::unique_ptr<LZ4_stream_t, int (*)(LZ4_stream_t*)> stream(LZ4_createStream(),
                                                                            LZ4_freeStream);
  thread_local std::string packed;
  const std::string& content = dictionary->content_;
  LZ4_loadDict(stream.get(), content.data(), static_cast<int>(content.size()));
  int bound = LZ4_compressBound(static_cast<int>(plain.size()));
  packed.resize(kHeaderSize + static_cast<size_t>(bound));
  int size = LZ4_compress_fast_continue(stream.get(), plain.data(), packed.data() + kHeaderSize,
                                        static_cast<int>(plain.size()), bound, 1);
  if (size <= 0 || kHeaderSize + static_cast<size_t>(size) >= plain.size()) {
    form_ = Form::kIncompressible;
    return false;
  }
  auto original = static_cast<uint32_t>(plain.size());
  std::memcpy(packed.data(), &dictionary, sizeof(dictionary));
  std::memcpy(packed.data() + sizeof(dictionary), &original, sizeof(original));
  bytes_ = std::string_view(packed.data(), kHeaderSize + static_cast<size_t>(size));
  form_ = Form::kCompressed;
  Hold();
  return true;
}

Payload::Header Payload::header() const {
  Header h;
  const char* p = bytes_.view().data();
  std::memcpy(&h.dictionary, p, sizeof(h.dictionary));
  std::memcpy(&h.original_size, p + sizeof(h.dictionary), sizeof(h.original_size));
  return h;
}

std::string_view Payload::block() const { return bytes_.view().substr(kHeaderSize); }

void Payload::Decompress(std::string* out) const {
  Header h = header();
  std::string_view b = block();
  const std::string& content = h.dictionary->content_;
  out->resize(h.original_size);
  int made = LZ4_decompress_safe_usingDict(b.data(), out->data(), static_cast<int>(b.size()),
                                           static_cast<int>(h.original_size), content.data(),
                                           static_cast<int>(content.size()));
  if (made < 0 || static_cast<uint32_t>(made) != h.original_size) {
    // Only this process wrote the block, from a payload it held: memory is damaged.
    Log(LogLevel::kWarning, "a compressed payload does not decompress ({} of {} bytes)", made,
        h.original_size);
    std::abort();
  }
}

void Payload::Hold() const {
  Header h = header();
  h.dictionary->Ref();
  stats.payloads++;
  stats.stored_bytes += bytes_.view().size();
  stats.original_bytes += h.original_size;
}

void Payload::Release() const {
  if (!compressed()) return;
  Header h = header();
  stats.payloads--;
  stats.stored_bytes -= bytes_.view().size();
  stats.original_bytes -= h.original_size;
  h.dictionary->Drop();
}

}  // namespace desaster
