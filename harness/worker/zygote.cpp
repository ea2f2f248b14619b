#include "harness/worker/zygote.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "harness/core/paths.hpp"
#include "harness/worker/fd_channel.hpp"

extern char** environ;

namespace xcompat {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kStderrTail = 4000;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The variables a forked worker must see as they are now, not as they were
// when the zygote started (tests set XCOMPAT_TEST_HOOKS between workers).
json xcompat_environment() {
  json env = json::object();
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("XCOMPAT_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

// True when `pid` is a live or unreaped child of this process.
bool is_our_child(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace

Zygote& Zygote::for_venv(const fs::path& venv) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::unique_ptr<Zygote>> registry;
  std::lock_guard lock(registry_mutex);
  auto& z = registry[venv.string() + "\n" + python_driver_dir().string()];
  if (!z) z = std::make_unique<Zygote>(venv);
  return *z;
}

Zygote::Zygote(fs::path venv) : venv_(std::move(venv)) {}

Zygote::~Zygote() { stop(); }

json Zygote::hello() {
  std::lock_guard lock(m_);
  return hello_;
}

void Zygote::stop() {
  close_fd(sock_);  // EOF: the zygote leaves its loop and exits
  if (pid_ > 0) {
    int status = 0;
    for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(10000);
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  pid_ = -1;
  close_fd(err_);
  buffer_.clear();
}

std::string Zygote::stderr_tail() {
  char buf[8192];
  while (err_ >= 0) {
    ssize_t n = ::read(err_, buf, sizeof buf);
    if (n <= 0) break;
    err_tail_.append(buf, static_cast<std::size_t>(n));
    if (err_tail_.size() > 2 * kStderrTail) err_tail_.erase(0, err_tail_.size() - kStderrTail);
  }
  return err_tail_.empty() ? "" : "; zygote stderr tail:\n" + err_tail_.substr(err_tail_.size() > kStderrTail
                                                                                 ? err_tail_.size() - kStderrTail
                                                                                 : 0);
}

std::string Zygote::start(std::chrono::milliseconds timeout) {
  stop();
  err_tail_.clear();
  hello_ = json::object();
  // Forked workers are re-parented to us (see the header): only then can a
  // crash or hang be seen and handled like a spawned worker's.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return fmt::format("prctl(PR_SET_CHILD_SUBREAPER): {}", strerror(errno));

  int sv[2], err[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fmt::format("socketpair: {}", strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return fmt::format("pipe: {}", strerror(errno));
  }
  const std::string exe = worker_executable("xcompat-python-worker").string();
  std::vector<std::string> argv = {exe, "--zygote", "--venv", venv_.string()};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(sv[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(sv[0]);
    ::close(err[0]);
    return fmt::format("cannot start {}: {}", exe, strerror(rc));
  }
  pid_ = pid;
  sock_ = sv[0];
  err_ = err[0];
  fcntl(err_, F_SETFL, fcntl(err_, F_GETFL) | O_NONBLOCK);
  ++starts_;

  // Wait for the hello, draining stderr meanwhile so a chatty import cannot
  // block the zygote on a full pipe.
  const auto deadline = Clock::now() + timeout;
  std::string line;
  std::vector<int> fds;
  for (;;) {
    auto r = read_line_with_fds(sock_, buffer_, line, fds, 200);
    stderr_tail();
    for (int fd : fds) ::close(fd);
    fds.clear();
    if (r == ChannelRead::Line) break;
    if (r == ChannelRead::Timeout && Clock::now() < deadline) continue;
    std::string why = r == ChannelRead::Timeout ? "did not become ready in time" : "died while starting";
    why += stderr_tail();
    stop();
    return why;
  }
  try {
    hello_ = json::parse(line);
  } catch (const std::exception&) {
    stop();
    return "sent a malformed hello: " + line.substr(0, 200);
  }
  if (!hello_.value("ready", false)) {
    std::string why = hello_.value("error", std::string("not ready")) + stderr_tail();
    stop();
    return why;
  }
  return "";
}

LaunchedProcess Zygote::fork_worker(const std::string& release, std::chrono::milliseconds timeout) {
  std::lock_guard lock(m_);
  LaunchedProcess out;
  // A zygote that died since the last fork (killed, out of memory) is
  // replaced; a request on a dead socket is retried once on a fresh one.
  if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
    pid_ = -1;
    stop();
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (pid_ <= 0) {
      if (std::string why = start(timeout); !why.empty()) {
        out.error = "python zygote for " + venv_.string() + " " + why;
        return out;
      }
    }
    int in[2], o[2], e[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
      out.error = fmt::format("pipe: {}", strerror(errno));
      return out;
    }
    const json req = {{"op", "fork"}, {"release", release}, {"env", xcompat_environment()}};
    const bool sent = send_line_with_fds(sock_, req.dump(), {in[0], o[1], e[1]});
    ::close(in[0]);
    ::close(o[1]);
    ::close(e[1]);
    auto close_parent_ends = [&] {
      ::close(in[1]);
      ::close(o[0]);
      ::close(e[0]);
    };
    if (!sent) {  // the zygote is gone: restart it and try once more
      close_parent_ends();
      stop();
      continue;
    }
    std::string line;
    std::vector<int> fds;
    auto r = read_line_with_fds(sock_, buffer_, line, fds, static_cast<int>(timeout.count()));
    for (int fd : fds) ::close(fd);
    json reply;
    if (r == ChannelRead::Line) {
      try {
        reply = json::parse(line);
      } catch (const std::exception&) {
        reply = {{"error", "malformed reply: " + line.substr(0, 200)}};
      }
    } else {
      reply = {{"error", r == ChannelRead::Timeout ? "did not answer a fork in time" : "died while forking"}};
    }
    const pid_t pid = reply.value("pid", -1);
    if (pid <= 0 || !is_our_child(pid)) {
      close_parent_ends();
      out.error = fmt::format("python zygote could not fork a worker for {}: {}{}", release,
                              pid > 0 ? "the worker was not re-parented to this process"
                                      : reply.value("error", std::string("no pid")),
                              stderr_tail());
      if (r != ChannelRead::Line) stop();
      return out;
    }
    stderr_tail();  // keep the pipe drained
    return {pid, in[1], o[0], e[0], {}};
  }
  out.error = "python zygote for " + venv_.string() + " closed its socket twice" + stderr_tail();
  return out;
}

}  // namespace xcompat
