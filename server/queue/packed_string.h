// A string in one pointer: empty costs nothing, anything else one allocation of its length plus
// four bytes. For job fields that are short or empty (a job's flow), where std::string's 32
// bytes per job add up over millions of queued jobs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace desaster {

class PackedString {
 public:
  PackedString() = default;
  PackedString(std::string_view s) { Assign(s); }  // NOLINT: converts like std::string
  PackedString(const PackedString& o) { Assign(o.view()); }
  PackedString(PackedString&& o) noexcept : data_(std::exchange(o.data_, nullptr)) {}
  PackedString& operator=(const PackedString& o) {
    if (this != &o) Assign(o.view());
    return *this;
  }
  PackedString& operator=(PackedString&& o) noexcept {
    std::swap(data_, o.data_);
    return *this;
  }
  PackedString& operator=(std::string_view s) {
    Assign(s);
    return *this;
  }
  ~PackedString() { std::free(data_); }

  std::string_view view() const {
    if (!data_) return {};
    uint32_t n;
    std::memcpy(&n, data_, sizeof(n));
    return {data_ + sizeof(n), n};
  }
  operator std::string_view() const { return view(); }  // NOLINT: reads like std::string
  std::string str() const { return std::string(view()); }
  bool empty() const { return data_ == nullptr; }
  friend bool operator==(const PackedString& a, std::string_view b) { return a.view() == b; }

 private:
  void Assign(std::string_view s) {
    char* fresh = nullptr;
    if (!s.empty()) {
      uint32_t n = static_cast<uint32_t>(s.size());
      fresh = static_cast<char*>(std::malloc(sizeof(n) + s.size()));
      if (!fresh) throw std::bad_alloc();
      std::memcpy(fresh, &n, sizeof(n));
      std::memcpy(fresh + sizeof(n), s.data(), s.size());
    }
    std::free(data_);
    data_ = fresh;
  }

  char* data_ = nullptr;  // [uint32 size][bytes]; nullptr when empty
};

}  // namespace desaster
