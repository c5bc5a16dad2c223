#include "server/data/hash.h"

#include <algorithm>

namespace desaster {

Hash::Hash(const Hash& other)
    : fields_(other.fields_),
      table_(other.table_ ? std::make_unique<Dict<std::string>>(*other.table_) : nullptr) {}

Hash& Hash::operator=(const Hash& other) {
  if (this != &other) *this = Hash(other);
  return *this;
}

const std::string* Hash::Find(std::string_view field) const {
  if (table_) return table_->Find(field);
  for (const Field& f : fields_) {
    if (f.name == field) return &f.value;
  }
  return nullptr;
}

bool Hash::Set(std::string_view field, std::string_view value, const Limits& limits, uint64_t seq,
               uint64_t* assigned) {
  *assigned = 0;
  if (!table_ && (field.size() > limits.max_value || value.size() > limits.max_value)) {
    ConvertToTable();
  }
  if (!table_) {
    for (Field& f : fields_) {
      if (f.name != field) continue;
      f.value.assign(value);
      *assigned = f.seq;
      return false;
    }
    if (fields_.size() < limits.max_entries) {
      seq = std::max(seq, fields_.empty() ? uint64_t{1} : fields_.back().seq + 1);
      fields_.push_back(Field{std::string(field), std::string(value), seq});
      *assigned = seq;
      return true;
    }
    ConvertToTable();
  }
  bool inserted;
  table_->Insert(field, &inserted)->assign(value);
  return inserted;
}

bool Hash::Erase(std::string_view field) {
  if (table_) return table_->Erase(field);
  auto it =
      std::find_if(fields_.begin(), fields_.end(), [&](const Field& f) { return f.name == field; });
  if (it == fields_.end()) return false;
  fields_.erase(it);
  return true;
}

std::pair<std::string_view, const std::string*> Hash::Random(std::mt19937_64& rng) const {
  if (table_) {
    const auto* node = table_->Random(rng);
    return {node->key(), &node->value};
  }
  const Field& f = fields_[rng() % fields_.size()];
  return {f.name, &f.value};
}

void Hash::ConvertToTable() {
  table_ = std::make_unique<Dict<std::string>>();
  for (Field& f : fields_) {
    bool inserted;
    *table_->Insert(f.name, &inserted) = std::move(f.value);
  }
  fields_.clear();
  fields_.shrink_to_fit();
}

}  // namespace desaster
