// TLS (OpenSSL) for desaster's connections: the settings an operator gives, and the context a
// server or a client makes from them. Streams over a socket use a context (net/stream.h).
#pragma once

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace desaster::net {

// Redis' tls-* parameters, with the same names and meanings.
struct TlsSettings {
  std::string cert_file;      // PEM certificate (chain) this side presents
  std::string key_file;       // its private key
  std::string key_file_pass;  // the key's passphrase, if it has one
  std::string ca_cert_file;   // PEM CAs the peer's certificate is checked against
  std::string ca_cert_dir;    // a directory of hashed CA certificates (c_rehash), likewise
  // A server's demand on clients: "yes" (a certificate the CAs signed), "optional" (checked when
  // sent), "no" (none asked for).
  std::string auth_clients = "yes";
  std::string protocols;     // e.g. "TLSv1.2 TLSv1.3"; empty: TLSv1.2 and later
  std::string ciphers;       // TLSv1.2 and below, OpenSSL's cipher list syntax
  std::string ciphersuites;  // TLSv1.3
  bool prefer_server_ciphers = false;
  bool session_caching = true;
  long session_cache_size = 20480;
  long session_cache_timeout_s = 300;

  bool operator==(const TlsSettings&) const = default;
};

class TlsContext {
 public:
  // A server's context: its certificate and key, and the CAs it checks clients against (needed
  // unless auth_clients is "no"). nullptr and *error ("cannot load tls-cert-file X: ...") when
  // the settings are incomplete or a file is unusable.
  static std::shared_ptr<TlsContext> ForServer(const TlsSettings& settings, std::string* error);
  // A client's context: the server's certificate is checked against the CAs given, or the
  // system's when none are; cert_file and key_file, when given, are presented to the server.
  static std::shared_ptr<TlsContext> ForClient(const TlsSettings& settings, std::string* error);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* raw() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* ctx_;
};

// OpenSSL's queued errors as one line ("error:0A00010B:SSL routines::wrong version number"),
// emptying the queue; `fallback` when it is empty.
std::string TakeTlsError(const std::string& fallback);

}  // namespace desaster::net
