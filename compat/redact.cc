#include "compat/redact.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>

namespace desaster {
namespace {

constexpr std::string_view kRedacted = "[REDACTED]";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out->append("\\u00");
      out->push_back(kHex[(c >> 4) & 0xf]);
      out->push_back(kHex[c & 0xf]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

}  // namespace

Redactor::Redactor(std::string_view words) {
  while (!words.empty()) {
    size_t comma = words.find(',');
    std::string word = Lower(words.substr(0, comma));
    word.erase(std::remove_if(word.begin(), word.end(),
                              [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
               word.end());
    if (!word.empty()) words_.push_back(std::move(word));
    words = comma == std::string_view::npos ? std::string_view() : words.substr(comma + 1);
  }
}

bool Redactor::Secret(std::string_view name) const {
  std::string lower = Lower(name);
  return std::any_of(words_.begin(), words_.end(),
                     [&](const std::string& w) { return lower.find(w) != std::string::npos; });
}

std::string Redactor::Redact(std::string_view text, bool* changed) const {
  *changed = false;
  if (!enabled()) return std::string(text);
  std::string out;
  if (!RedactJson(text, &out, changed)) out = RedactText(text, changed);
  return *changed ? out : std::string(text);
}

bool Redactor::RedactJson(std::string_view json, std::string* out, bool* changed) const {
  static simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) return false;
  // Depth is bounded by the parser's (1024 levels): deeper documents are not JSON here.
  auto write = [&](auto& self, simdjson::dom::element e) -> void {
    switch (e.type()) {
      case simdjson::dom::element_type::OBJECT: {
        out->push_back('{');
        bool first = true;
        for (simdjson::dom::key_value_pair field : simdjson::dom::object(e)) {
          if (!std::exchange(first, false)) out->push_back(',');
          AppendJsonString(out, field.key);
          out->push_back(':');
          if (Secret(field.key)) {
            AppendJsonString(out, kRedacted);
            *changed = true;
          } else {
            self(self, field.value);
          }
        }
        out->push_back('}');
        break;
      }
      case simdjson::dom::element_type::ARRAY: {
        out->push_back('[');
        bool first = true;
        for (simdjson::dom::element item : simdjson::dom::array(e)) {
          if (!std::exchange(first, false)) out->push_back(',');
          self(self, item);
        }
        out->push_back(']');
        break;
      }
      default:
        out->append(simdjson::minify(e));
    }
  };
  write(write, root);
  return true;
}

std::string Redactor::RedactText(std::string_view text, bool* changed) const {
  std::string out;
  out.reserve(text.size());
  size_t i = 0, n = text.size();
  while (i < n) {
    if (!IsNameChar(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    size_t start = i;
    while (i < n && IsNameChar(text[i])) i++;
    out.append(text.substr(start, i - start));
    size_t j = i;
    while (j < n && text[j] == ' ') j++;
    if (j >= n || (text[j] != '=' && text[j] != ':') || !Secret(text.substr(start, i - start))) {
      continue;
    }
    j++;
    while (j < n && text[j] == ' ') j++;
    size_t value = j, end = j;
    if (j < n && (text[j] == '"' || text[j] == '\'')) {
      value = j + 1;
      end = text.find(text[j], value);
      if (end == std::string_view::npos) end = n;
    } else {
      while (end < n && !std::isspace(static_cast<unsigned char>(text[end])) &&
             std::string_view("\"',;&").find(text[end]) == std::string_view::npos) {
        end++;
      }
    }
    if (end == value) continue;
    out.append(text.substr(i, value - i));
    out.append(kRedacted);
    *changed = true;
    i = end;
  }
  return out;
}

}  // namespace desaster
