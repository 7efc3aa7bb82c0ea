// The sockets under `edict serve`'s HTTP (Boost.Beast parses and writes the
// messages): a blocking TCP connection with kernel timeouts (SO_RCVTIMEO,
// SO_SNDTIMEO) as Beast's synchronous stream, and the listener. Plain
// sockets rather than Asio's, whose synchronous reads wait again without
// bound when a timeout fires; and a response leaves in one sendmsg (header
// and body gathered), so one decision is one TCP segment on loopback.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <string>

namespace edict::server {

class SocketStream {
 public:
  // Over `fd`, an accepted connection (its owner closes it): sets
  // TCP_NODELAY and the read and write timeouts.
  SocketStream(int fd, int timeout_ms);

  int fd() const { return fd_; }
  // Whether the last read failed on the timeout.
  bool timed_out() const { return timed_out_; }

  template <class Buffers>
  size_t read_some(const Buffers& buffers, boost::beast::error_code& ec) {
    iovec iov[kMaxBuffers];
    const size_t n = gather<boost::asio::mutable_buffer>(buffers, iov);
    if (n == 0) return ec = {}, 0;
    for (;;) {
      const ssize_t got = readv(fd_, iov, static_cast<int>(n));
      if (got > 0) return ec = {}, static_cast<size_t>(got);
      if (got == 0) return ec = boost::asio::error::eof, 0;
      if (errno == EINTR) continue;
      timed_out_ = errno == EAGAIN || errno == EWOULDBLOCK;
      ec = timed_out_ ? boost::beast::error_code(boost::asio::error::timed_out)
                      : boost::beast::error_code(errno, boost::system::system_category());
      return 0;
    }
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, boost::beast::error_code& ec) {
    msghdr msg{};
    iovec iov[kMaxBuffers];
    msg.msg_iov = iov;
    msg.msg_iovlen = gather<boost::asio::const_buffer>(buffers, iov);
    if (msg.msg_iovlen == 0) return ec = {}, 0;
    for (;;) {
      const ssize_t sent = sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (sent >= 0) return ec = {}, static_cast<size_t>(sent);
      if (errno == EINTR) continue;
      ec = errno == EAGAIN || errno == EWOULDBLOCK
               ? boost::beast::error_code(boost::asio::error::timed_out)
               : boost::beast::error_code(errno, boost::system::system_category());
      return 0;
    }
  }
  // The throwing forms Beast's stream concepts ask for.
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  static constexpr size_t kMaxBuffers = 64;
  template <class Buffer, class Buffers>
  static size_t gather(const Buffers& buffers, iovec* iov) {
    size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n < kMaxBuffers; ++it) {
      Buffer b(*it);
      if (b.size() > 0) iov[n++] = iovec{const_cast<void*>(static_cast<const void*>(b.data())), b.size()};
    }
    return n;
  }
  int fd_;
  bool timed_out_ = false;
};

// A listening TCP socket on host:port (port 0: any free port); its fd, or
// -1 with *error set. `bound_port` gets the port it listens on.
int listen_tcp(const std::string& host, int port, int* bound_port, std::string* error);

}  // namespace edict::server
