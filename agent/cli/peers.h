#pragma once
// The peers a user would pick instead of ksearch, measured live: PyTorch eager and torch.compile
// on the same shapes, on the same GPU, timed the way ksearch times (scripts/torch_peers.py). Used
// by `ksearch bench --peers`.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ks::cli {

struct PeerTimes {
  std::optional<double> eager_us, compile_us;
  std::string error;  // why this shape has no time (the script's message)
};

using PeerKey = std::pair<std::string, std::string>;  // task, shape text

// Runs `python scripts/torch_peers.py` once for all of `shapes` on CUDA device `device` (its
// progress on stderr), sending one shape at a time and reading its answer (10 minutes at most
// each). A shape the script ends without answering has an error, not a time. Throws ks::Error
// with one line when python cannot be run, torch cannot be imported or sees no GPU, the script
// fails or hangs, or it says something that is not its protocol. warmup_s: the seconds of warm-up
// replays before each timing, as ksearch's own beside them (TimerOptions::warmup_seconds).
std::map<PeerKey, PeerTimes> measure_peers(const std::string& python, const std::vector<PeerKey>& shapes, int device,
                                           double warmup_s);

}  // namespace ks::cli
