#include "evaluator/output_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/utf8.h"

namespace ks {

static void check_sys(bool ok, const char* call) {
  if (!ok) throw Error(std::string("output capture: ") + call + ": " + std::strerror(errno));
}

OutputCapture::OutputCapture(int fd, size_t keep) : fd_(fd), keep_(keep) {
  int p[2];
  check_sys(::pipe2(p, O_CLOEXEC) == 0, "pipe2");
  read_end_ = p[0];
  // The reader never blocks (it drains under the lock); a larger pipe rarely makes a writer wait.
  check_sys(::fcntl(read_end_, F_SETFL, O_NONBLOCK) == 0, "fcntl(O_NONBLOCK)");
  (void)::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  std::fflush(nullptr);
  saved_ = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  check_sys(saved_ >= 0, "fcntl(F_DUPFD_CLOEXEC)");
  check_sys(::dup2(p[1], fd_) >= 0, "dup2");
  ::close(p[1]);
  drainer_ = std::thread([this] { run(); });
}

OutputCapture::~OutputCapture() {
  std::fflush(nullptr);
  stop_ = true;
  drainer_.join();
  ::dup2(saved_, fd_);  // closes the pipe's write end
  ::close(saved_);
  ::close(read_end_);
}

void OutputCapture::drain_locked() {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(read_end_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // empty (EAGAIN) or closed
    const size_t room = keep_ > current_.kept.size() ? keep_ - current_.kept.size() : 0;
    current_.kept.append(buf, std::min(room, static_cast<size_t>(n)));
    current_.bytes += static_cast<size_t>(n);
  }
}

void OutputCapture::run() {
  while (!stop_) {
    pollfd p{read_end_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    std::lock_guard lock(mu_);
    drain_locked();
  }
}

CapturedOutput OutputCapture::take() {
  std::fflush(nullptr);
  std::lock_guard lock(mu_);
  drain_locked();
  CapturedOutput out = std::exchange(current_, {});
  out.kept = valid_utf8(out.kept);  // a candidate prints any bytes (and the cut at `keep` splits characters)
  return out;
}

}  // namespace ks
