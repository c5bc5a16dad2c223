// A byte stream over a connected non-blocking socket, plain or TLS, for event loops: reads and
// writes never block, and say what the stream waits for when they cannot go on.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "net/tls.h"

namespace desaster::net {

class Stream {
 public:
  virtual ~Stream() = default;

  // Reads up to `n` bytes into `buffer`. Returns the count (> 0); 0 when the peer closed the
  // stream; -1 with errno EAGAIN when nothing can be read now (wait for readability, or for
  // writability when wants_write()), any other errno when the stream failed (error() says
  // why).
  virtual ssize_t Read(char* buffer, size_t n) = 0;
  // Writes up to `n` bytes and returns how many went, or -1 as Read. After EAGAIN, the next
  // call must offer the same bytes again (more may follow them).
  virtual ssize_t Write(const char* data, size_t n) = 0;
  // After EAGAIN: whether the stream waits for the socket to be writable (a TLS handshake can
  // make a read wait to write) rather than readable.
  virtual bool wants_write() const { return false; }
  // After EAGAIN from Write: whether it waits for the socket to be readable (TLS).
  virtual bool write_wants_read() const { return false; }
  // Bytes received and decrypted that Read returns without the socket becoming readable again.
  virtual bool buffered() const { return false; }
  // Why the stream failed, for the log.
  virtual std::string error() const;
  // Ends the stream politely where the protocol has a way to (TLS close_notify), without
  // waiting. The owner closes the socket.
  virtual void Shutdown() {}
  virtual bool tls() const { return false; }
};

// Starts a non-blocking TCP connection to host:port (a name is resolved here, blocking: give
// addresses). Returns the socket, connected once it is writable (ConnectError then says how it
// went), or -1 with *error ("cannot resolve h: ...", or why connect(2) refused).
int StartConnect(const std::string& host, const std::string& port, std::string* error);
// After a socket of StartConnect became writable: "" when it connected, else why not.
std::string ConnectError(int fd);
// Writes `*queued` from `*written` on as far as `stream` takes it (a queue written whole is
// emptied). Returns whether the owner must wait for the socket to be writable: bytes are left
// that the stream takes then (a TLS write that waits to read goes on after the next read), or a
// TLS read waits to write. nullopt when the stream failed (its error() says why).
std::optional<bool> WriteQueued(Stream& stream, std::string* queued, size_t* written);
// Ends `stream` politely (Shutdown) and closes its socket; both are left empty (-1).
void CloseStream(std::unique_ptr<Stream>* stream, int* fd);

// A plain TCP (or unix socket) stream on `fd`.
std::unique_ptr<Stream> PlainStream(int fd);
// The server's end of a TLS stream on an accepted `fd`; the handshake runs within the first
// reads and writes.
std::unique_ptr<Stream> TlsServerStream(int fd, std::shared_ptr<TlsContext> context);
// The client's end of a TLS stream on a connected (or connecting) `fd`, checking that the
// server's certificate names `host` (a name or an IP address).
std::unique_ptr<Stream> TlsClientStream(int fd, std::shared_ptr<TlsContext> context,
                                        const std::string& host);

}  // namespace desaster::net
