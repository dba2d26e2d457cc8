#include "evaluator/nvrtc_frames.h"

#include <charconv>

namespace ks::frames {

void append(std::string& out, std::string_view frame) {
  out.append(std::to_string(frame.size())).append("\n").append(frame);
}

bool split(std::string_view data, size_t max_frame, std::vector<std::string_view>& out) {
  out.clear();
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    // At most 20 digits (2^64): anything longer is not a length we wrote.
    if (nl == std::string_view::npos || nl == 0 || nl > 20) return false;
    size_t size = 0;
    const auto [end, ec] = std::from_chars(data.data(), data.data() + nl, size);
    if (ec != std::errc() || end != data.data() + nl) return false;
    if (size > max_frame || size > data.size() - nl - 1) return false;
    out.push_back(data.substr(nl + 1, size));
    data.remove_prefix(nl + 1 + size);
  }
  return true;
}

}  // namespace ks::frames
