// Taking secrets out of what a job carries (its payload, its result) before the completed store
// keeps it: a value is secret when the name it is given under contains one of the configured
// words ("password", "token"), compared without regard to case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace desaster {

class Redactor {
 public:
  // `words`: comma-separated; empty words are ignored. No words: nothing is secret.
  explicit Redactor(std::string_view words = {});

  bool enabled() const { return !words_.empty(); }

  // `text` with every secret value replaced by "[REDACTED]": in JSON, the value of each object
  // member whose name is secret, at any depth; in other text, what follows a secret name and
  // '=' or ':' up to the next space, quote, comma, semicolon or '&'. *changed tells whether
  // anything was replaced.
  std::string Redact(std::string_view text, bool* changed) const;

 private:
  bool Secret(std::string_view name) const;
  bool RedactJson(std::string_view json, std::string* out, bool* changed) const;
  std::string RedactText(std::string_view text, bool* changed) const;

  std::vector<std::string> words_;  // lower case
};

}  // namespace desaster
