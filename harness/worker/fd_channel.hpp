#pragma once
// Lines over a UNIX stream socket that can carry open file descriptors
// (SCM_RIGHTS) with them: how the main side hands a pre-warmed interpreter
// (the zygote, harness/worker/zygote.hpp) the three pipe ends of the worker
// it asks for. Used by both sides; no torch, no Python.
//
// One line at a time: the sender writes one line (with its descriptors) and
// waits for the answer before the next, so descriptors can never arrive with
// a line other than their own.
#include <string>
#include <vector>

namespace xcompat {

// Sends `line` (a '\n' is appended) and `fds` in one message. False on a
// closed or broken socket (errno says why).
bool send_line_with_fds(int sock, const std::string& line, const std::vector<int>& fds = {});

enum class ChannelRead { Line, Eof, Timeout, Error };

// Reads until one full line is in `buffer`, then moves it into `line`.
// Descriptors that arrive are appended to `fds` (close-on-exec set).
// timeout_ms < 0 waits forever.
ChannelRead read_line_with_fds(int sock, std::string& buffer, std::string& line, std::vector<int>& fds,
                               int timeout_ms);

}  // namespace xcompat
