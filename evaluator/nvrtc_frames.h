#pragma once
// The byte format between the compiler and its sandboxed helper (ksearch-nvrtc): a sequence of
// frames, each "<decimal length>\n<bytes>". Lengths make any byte content safe (sources and logs
// hold newlines; cubins hold anything), and the reader never trusts a length beyond its cap.
// Shared by both sides; depends on nothing but the standard library.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ks::frames {

constexpr std::string_view kRequestMagic = "ksearch-nvrtc request 1";
constexpr std::string_view kAnswerMagic = "ksearch-nvrtc answer 1";

void append(std::string& out, std::string_view frame);

// Splits `data` into frames. False when it is not a whole sequence of frames, or a frame's
// length exceeds `max_frame` (the data is then garbage, whatever it holds).
bool split(std::string_view data, size_t max_frame, std::vector<std::string_view>& out);

}  // namespace ks::frames
