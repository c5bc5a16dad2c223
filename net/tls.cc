#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sstream>

namespace desaster::net {

namespace {

int PassphraseCallback(char* buf, int size, int, void* userdata) {
  const std::string& pass = *static_cast<const std::string*>(userdata);
  if (pass.size() > static_cast<size_t>(size)) return -1;
  pass.copy(buf, pass.size());
  return static_cast<int>(pass.size());
}

// The protocol versions named in `protocols` ("TLSv1.2 TLSv1.3"), as a range; false with
// *error on a name OpenSSL does not know.
bool ProtocolRange(const std::string& protocols, int* min, int* max, std::string* error) {
  static const std::pair<const char*, int> kVersions[] = {
      {"TLSv1", TLS1_VERSION},
      {"TLSv1.1", TLS1_1_VERSION},
      {"TLSv1.2", TLS1_2_VERSION},
      {"TLSv1.3", TLS1_3_VERSION},
  };
  *min = TLS1_2_VERSION;
  *max = 0;  // the highest OpenSSL supports
  std::istringstream words(protocols);
  bool any = false;
  for (std::string word; words >> word;) {
    int version = 0;
    for (const auto& [name, v] : kVersions) {
      if (strcasecmp(word.c_str(), name) == 0) version = v;
    }
    if (version == 0) {
      *error = "invalid tls-protocols value: " + word;
      return false;
    }
    *min = any ? std::min(*min, version) : version;
    *max = any ? std::max(*max, version) : version;
    any = true;
  }
  return true;
}

// What servers and clients set alike: protocols, ciphers, the certificate this side presents
// and the CAs it checks the other side against. False with *error.
bool Configure(SSL_CTX* ctx, const TlsSettings& s, std::string* error) {
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // A peer that closes without close_notify has closed; it is not an error worth reporting.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  int min = 0, max = 0;
  if (!ProtocolRange(s.protocols, &min, &max, error)) return false;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
  if (!s.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str())) {
    *error = "invalid tls-ciphers: " + TakeTlsError(s.ciphers);
    return false;
  }
  if (!s.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str())) {
    *error = "invalid tls-ciphersuites: " + TakeTlsError(s.ciphersuites);
    return false;
  }
  if (s.cert_file.empty() != s.key_file.empty()) {
    *error = "tls-cert-file and tls-key-file go together";
    return false;
  }
  if (!s.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) <= 0) {
      *error = "cannot load tls-cert-file " + s.cert_file + ": " + TakeTlsError("unreadable");
      return false;
    }
    SSL_CTX_set_default_passwd_cb(ctx, PassphraseCallback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&s.key_file_pass));
    bool loaded = SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) > 0;
    SSL_CTX_set_default_passwd_cb(ctx, nullptr);  // `s` may not outlive the context
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (!loaded) {
      *error = "cannot load tls-key-file " + s.key_file + ": " + TakeTlsError("unreadable");
      return false;
    }
    if (!SSL_CTX_check_private_key(ctx)) {
      *error = "tls-key-file " + s.key_file + " does not match tls-cert-file " + s.cert_file;
      return false;
    }
  }
  if (!s.ca_cert_file.empty() || !s.ca_cert_dir.empty()) {
    const char* file = s.ca_cert_file.empty() ? nullptr : s.ca_cert_file.c_str();
    const char* dir = s.ca_cert_dir.empty() ? nullptr : s.ca_cert_dir.c_str();
    if (!SSL_CTX_load_verify_locations(ctx, file, dir)) {
      *error = "cannot load tls-ca-cert-file/dir: " + TakeTlsError("unreadable");
      return false;
    }
  }
  return true;
}

}  // namespace

std::string TakeTlsError(const std::string& fallback) {
  std::string text;
  char line[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, line, sizeof(line));
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? fallback : text;
}

std::shared_ptr<TlsContext> TlsContext::ForServer(const TlsSettings& s, std::string* error) {
  if (s.cert_file.empty()) {
    *error = "TLS needs tls-cert-file and tls-key-file";
    return nullptr;
  }
  if (s.auth_clients != "yes" && s.auth_clients != "no" && s.auth_clients != "optional") {
    *error = "tls-auth-clients must be yes, no or optional";
    return nullptr;
  }
  if (s.auth_clients != "no" && s.ca_cert_file.empty() && s.ca_cert_dir.empty()) {
    *error = "tls-auth-clients " + s.auth_clients +
             " needs tls-ca-cert-file or tls-ca-cert-dir to check client certificates against";
    return nullptr;
  }
  std::shared_ptr<TlsContext> context(new TlsContext(SSL_CTX_new(TLS_server_method())));
  SSL_CTX* ctx = context->ctx_;
  if (!ctx || !Configure(ctx, s, error)) {
    if (!ctx) *error = TakeTlsError("cannot create a TLS context");
    return nullptr;
  }
  if (s.prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  int verify = SSL_VERIFY_NONE;
  if (s.auth_clients == "yes") verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (s.auth_clients == "optional") verify = SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  if (s.session_caching) {
    // Resumed sessions must carry the client's verified identity: a context id ties them to it.
    static const unsigned char kSessionContext[] = "desaster";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, s.session_cache_size);
    SSL_CTX_set_timeout(ctx, s.session_cache_timeout_s);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  return context;
}

std::shared_ptr<TlsContext> TlsContext::ForClient(const TlsSettings& s, std::string* error) {
  std::shared_ptr<TlsContext> context(new TlsContext(SSL_CTX_new(TLS_client_method())));
  SSL_CTX* ctx = context->ctx_;
  if (!ctx || !Configure(ctx, s, error)) {
    if (!ctx) *error = TakeTlsError("cannot create a TLS context");
    return nullptr;
  }
  if (s.ca_cert_file.empty() && s.ca_cert_dir.empty() && !SSL_CTX_set_default_verify_paths(ctx)) {
    *error = "cannot load the system's CA certificates: " + TakeTlsError("unreadable");
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace desaster::net
