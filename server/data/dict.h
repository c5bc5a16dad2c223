// A chained hash table keyed by binary-safe strings, with Redis' reverse-binary SCAN cursor:
// a full scan returns every element present from start to end at least once, even when the
// table grows or shrinks between calls. Used for the keyspace and for hash/set/zset members.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/populated.h"

namespace desaster {

template <class V>
class Dict {
 public:
  // One allocation per element: the node, then its key's bytes. A lookup reads the hash and
  // link of each node on the chain and the key of the one whose hash matches, never a separate
  // key allocation (keys longer than std::string's 15 inline bytes, such as redis-benchmark's
  // "key:000000123456", cost a cache miss more there, and a keyspace entry 144 bytes, not 96).
  class Node {
   public:
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_size}; }

    uint64_t hash;
    Node* next;
    size_t key_size;  // full width: a key may pass 4 GiB (proto-max-bulk-len allows it)
    V value;

   private:
    friend class Dict;
    Node(uint64_t h, Node* n, size_t size) : hash(h), next(n), key_size(size), value() {}

    static Node* Make(uint64_t h, Node* next, std::string_view key) {
      void* raw = ::operator new(sizeof(Node) + key.size());
      Node* node = new (raw) Node(h, next, key.size());
      std::memcpy(reinterpret_cast<char*>(node + 1), key.data(), key.size());
      return node;
    }
    static void Free(Node* node) {
      size_t size = sizeof(Node) + node->key_size;
      node->~Node();
      ::operator delete(node, size);
    }
  };

  Dict() = default;
  Dict(const Dict& other) { CopyFrom(other); }
  Dict& operator=(const Dict& other) {
    if (this != &other) {
      Clear();
      CopyFrom(other);
    }
    return *this;
  }
  Dict(Dict&& other) noexcept
      : buckets_(std::move(other.buckets_)), size_(std::exchange(other.size_, 0)) {}
  Dict& operator=(Dict&& other) noexcept {
    if (this != &other) {
      Clear();
      buckets_ = std::move(other.buckets_);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~Dict() { Clear(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  V* Find(std::string_view key) {
    if (buckets_.empty()) return nullptr;
    uint64_t h = Hash(key);
    for (Node* n = buckets_[h & Mask()]; n; n = n->next) {
      if (n->hash == h && n->key() == key) return &n->value;
    }
    return nullptr;
  }
  const V* Find(std::string_view key) const { return const_cast<Dict*>(this)->Find(key); }

  // Asks the memory for what finding each of `keys` will read first (its bucket, then the first
  // node there), so that the cache misses of lookups to come overlap instead of following one
  // another. Changes nothing.
  void Prefetch(std::span<const std::string_view> keys) const {
    if (buckets_.empty()) return;
    constexpr size_t kMax = 32;
    size_t slots[kMax], n = std::min(keys.size(), kMax);
    for (size_t i = 0; i < n; i++) {
      slots[i] = Hash(keys[i]) & Mask();
      __builtin_prefetch(&buckets_[slots[i]]);
    }
    for (size_t i = 0; i < n; i++) {
      if (const Node* node = buckets_[slots[i]]) __builtin_prefetch(node);
    }
  }

  // Returns the value for `key`, inserting a default-constructed one if absent; `*inserted`
  // tells which happened.
  V* Insert(std::string_view key, bool* inserted) {
    if (V* v = Find(key)) {
      *inserted = false;
      return v;
    }
    *inserted = true;
    if (size_ + 1 > buckets_.size()) Resize(buckets_.empty() ? 4 : buckets_.size() * 2);
    uint64_t h = Hash(key);
    Node*& head = buckets_[h & Mask()];
    head = Node::Make(h, head, key);
    size_++;
    return &head->value;
  }

  // Removes `key`; returns whether it was present.
  bool Erase(std::string_view key) {
    if (buckets_.empty()) return false;
    uint64_t h = Hash(key);
    for (Node** link = &buckets_[h & Mask()]; *link; link = &(*link)->next) {
      Node* n = *link;
      if (n->hash == h && n->key() == key) {
        *link = n->next;
        Node::Free(n);
        size_--;
        MaybeShrink();
        return true;
      }
    }
    return false;
  }

  void Clear() {
    for (Node* head : buckets_) {
      while (head) Node::Free(std::exchange(head, head->next));
    }
    buckets_.clear();
    size_ = 0;
  }

  // Calls fn(std::string_view key, V& value) for every element. `fn` must not modify the dict.
  template <class F>
  void ForEach(F&& fn) {
    for (Node* head : buckets_) {
      for (Node* n = head; n; n = n->next) fn(n->key(), n->value);
    }
  }
  template <class F>
  void ForEach(F&& fn) const {
    for (const Node* head : buckets_) {
      for (const Node* n = head; n; n = n->next) fn(n->key(), n->value);
    }
  }

  // Visits the bucket at `cursor` (calling fn(key, value) for each element there) and returns
  // the next cursor; 0 means the scan is complete. Start with cursor 0.
  template <class F>
  uint64_t Scan(uint64_t cursor, F&& fn) const {
    if (buckets_.empty()) return 0;
    uint64_t mask = Mask();
    for (const Node* n = buckets_[cursor & mask]; n; n = n->next) fn(n->key(), n->value);
    // Increment the reversed cursor: set unmasked bits, reverse, increment, reverse back.
    cursor |= ~mask;
    cursor = Reverse(cursor);
    cursor++;
    return Reverse(cursor);
  }

  // A uniformly chosen bucket's random element; nullptr when empty. Not perfectly uniform over
  // elements (like Redis' dictGetFairRandomKey it favours short chains), which is fine for
  // RANDOMKEY/SRANDMEMBER/SPOP.
  const Node* Random(std::mt19937_64& rng) const {
    if (size_ == 0) return nullptr;
    const Node* head = nullptr;
    while (head == nullptr) head = buckets_[rng() & Mask()];
    size_t len = 0;
    for (const Node* n = head; n; n = n->next) len++;
    size_t pick = rng() % len;
    while (pick--) head = head->next;
    return head;
  }

  static uint64_t Hash(std::string_view key) {
    return std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ULL;
  }

 private:
  uint64_t Mask() const { return buckets_.size() - 1; }

  static uint64_t Reverse(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    return (v >> 32) | (v << 32);
  }

  void Resize(size_t n) {
    PopulatedVector<Node*> fresh(n, nullptr);
    for (Node* head : buckets_) {
      while (head) {
        Node* next = head->next;
        Node*& slot = fresh[head->hash & (n - 1)];
        head->next = slot;
        slot = head;
        head = next;
      }
    }
    buckets_ = std::move(fresh);
  }

  void MaybeShrink() {
    if (size_ == 0) {
      buckets_.clear();
    } else if (buckets_.size() > 4 && size_ * 8 < buckets_.size()) {
      Resize(buckets_.size() / 2);
    }
  }

  void CopyFrom(const Dict& other) {
    if (other.buckets_.empty()) return;
    Resize(other.buckets_.size());
    other.ForEach([this](std::string_view k, const V& v) {
      bool inserted;
      *Insert(k, &inserted) = v;
    });
  }

  PopulatedVector<Node*> buckets_;
  size_t size_ = 0;
};

}  // namespace desaster
