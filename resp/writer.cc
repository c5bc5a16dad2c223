#include "resp/writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace resp {

void AppendRequest(std::string* out, const std::vector<std::string>& argv) {
  ReplyWriter request(out, 2);
  request.Array(argv.size());
  for (const std::string& arg : argv) request.Bulk(arg);
}

std::string FormatDouble(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "%.17g", d);
  return std::string(buf, static_cast<size_t>(n));
}

void ReplyWriter::Header(char type, long long n) {
  // Every reply has one: std::to_chars, as snprintf cost 6% of a pushing server's instructions.
  char buf[32];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buf, static_cast<size_t>(end - buf));
}

void ReplyWriter::Simple(std::string_view s) {
  out_->push_back('+');
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::Error(std::string_view msg) {
  // Redis adds "ERR " unless the message already starts with an error code (an upper-case word).
  size_t sp = msg.find(' ');
  bool has_code = sp != std::string_view::npos && sp > 0;
  for (size_t i = 0; has_code && i < sp; i++) {
    if (msg[i] < 'A' || msg[i] > 'Z') has_code = false;
  }
  if (has_code) return ErrorVerbatim(msg);
  out_->append("-ERR ");
  AppendLine(msg);
}

void ReplyWriter::ErrorVerbatim(std::string_view msg) {
  out_->push_back('-');
  AppendLine(msg);
}

void ReplyWriter::AppendLine(std::string_view msg) {
  // Newlines would break the protocol; Redis replaces them with spaces.
  size_t start = out_->size();
  out_->append(msg);
  for (size_t i = start; i < out_->size(); i++) {
    if ((*out_)[i] == '\r' || (*out_)[i] == '\n') (*out_)[i] = ' ';
  }
  out_->append("\r\n");
}

void ReplyWriter::Integer(long long v) { Header(':', v); }

void ReplyWriter::Bulk(std::string_view s) {
  Header('$', static_cast<long long>(s.size()));
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::NullBulk() { out_->append(protocol_ >= 3 ? "_\r\n" : "$-1\r\n"); }
void ReplyWriter::NullArray() { out_->append(protocol_ >= 3 ? "_\r\n" : "*-1\r\n"); }
void ReplyWriter::Array(size_t n) { Header('*', static_cast<long long>(n)); }

void ReplyWriter::Map(size_t n) {
  if (protocol_ >= 3) {
    Header('%', static_cast<long long>(n));
  } else {
    Header('*', static_cast<long long>(n * 2));
  }
}

void ReplyWriter::Set(size_t n) { Header(protocol_ >= 3 ? '~' : '*', static_cast<long long>(n)); }
void ReplyWriter::Push(size_t n) { Header(protocol_ >= 3 ? '>' : '*', static_cast<long long>(n)); }

void ReplyWriter::Double(double d) { DoubleText(FormatDouble(d)); }

void ReplyWriter::DoubleText(std::string_view text) {
  if (protocol_ < 3) return Bulk(text);
  out_->push_back(',');
  out_->append(text);
  out_->append("\r\n");
}

void ReplyWriter::Boolean(bool b) {
  if (protocol_ >= 3) {
    out_->append(b ? "#t\r\n" : "#f\r\n");
  } else {
    Integer(b ? 1 : 0);
  }
}

void ReplyWriter::BigNumber(std::string_view digits) {
  if (protocol_ < 3) return Bulk(digits);
  out_->push_back('(');
  out_->append(digits);
  out_->append("\r\n");
}

void ReplyWriter::Verbatim(std::string_view s, std::string_view format) {
  if (protocol_ >= 3) {
    Header('=', static_cast<long long>(s.size() + 4));
    out_->append(format.substr(0, 3));
    out_->push_back(':');
    out_->append(s);
    out_->append("\r\n");
  } else {
    Bulk(s);
  }
}

}  // namespace resp
