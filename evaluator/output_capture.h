#pragma once
// Captures what this process writes to one of its descriptors (the worker's stdout, where the CUDA
// runtime prints a candidate's device printf): the descriptor becomes a pipe that a thread
// drains, keeping the first `keep` bytes of each capture and counting the rest, so a candidate
// that prints without end costs memory for `keep` bytes only and never blocks the process.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace ks {

struct CapturedOutput {
  std::string kept;  // the first bytes
  size_t bytes = 0;  // all of them
};

class OutputCapture {
 public:
  OutputCapture(int fd, size_t keep);  // throws ks::Error naming the failing call
  ~OutputCapture();                    // gives the descriptor back
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // Everything written since the last take (stdio's buffers flushed first); starts a new capture.
  CapturedOutput take();

 private:
  void drain_locked();  // reads what the pipe holds, without blocking
  void run();

  int fd_, saved_ = -1, read_end_ = -1;
  size_t keep_;
  std::mutex mu_;
  CapturedOutput current_;
  std::atomic<bool> stop_{false};
  std::thread drainer_;
};

}  // namespace ks
