#include "harness/worker/fd_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace xcompat {

namespace {
constexpr std::size_t kMaxFds = 8;           // a request carries three; anything above is refused
constexpr std::size_t kMaxLine = 1u << 20;   // zygote lines are short; a longer one is a broken peer
}  // namespace

bool send_line_with_fds(int sock, const std::string& line, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) {
    errno = EINVAL;
    return false;
  }
  const std::string data = line + "\n";
  std::size_t sent = 0;
  bool fds_sent = fds.empty();
  while (sent < data.size()) {
    iovec iov{const_cast<char*>(data.data() + sent), data.size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    if (!fds_sent) {
      // The descriptors ride on the first byte that goes out.
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    fds_sent = true;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

ChannelRead read_line_with_fds(int sock, std::string& buffer, std::string& line, std::vector<int>& fds,
                               int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    if (auto nl = buffer.find('\n'); nl != std::string::npos) {
      line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return ChannelRead::Line;
    }
    if (buffer.size() > kMaxLine) return ChannelRead::Error;
    int wait = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return ChannelRead::Timeout;
      wait = static_cast<int>(left);
    }
    pollfd p{sock, POLLIN, 0};
    int ready = ::poll(&p, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ChannelRead::Error;
    if (ready == 0) continue;  // the deadline check above decides

    char data[4096];
    iovec iov{data, sizeof data};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ChannelRead::Error;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) return ChannelRead::Error;  // more descriptors than a request carries
    if (n == 0) return ChannelRead::Eof;
    buffer.append(data, static_cast<std::size_t>(n));
  }
}

}  // namespace xcompat
