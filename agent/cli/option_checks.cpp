// Checks of option values shared by every command. CLI11's own number checks let NaN through
// (every comparison with it is false) and print their limits with std::to_string, so "positive"
// read "not in range 0.000000 to 179769313486231570814527423731704356798070567525844996598917..."
// These parse the text themselves, refuse NaN and infinities, and write limits as a user would.
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "agent/cli/commands.h"
#include "evaluator/text.h"

namespace ks::cli {
namespace {

std::string number_text(double v) {
  std::ostringstream out;
  out << v;  // 256, 0.5, 1e+06: never a 300-digit limit
  return out.str();
}

// The value of an option's text, when it is a finite number; else why not.
std::string finite(const std::string& input, double& value) {
  const char* begin = input.c_str();
  char* end = nullptr;
  value = std::strtod(begin, &end);
  if (input.empty() || end != begin + input.size()) return "'" + input + "' is not a number";
  if (!std::isfinite(value)) return "'" + input + "' is not a finite number";
  return {};
}

CLI::Validator number_check(const std::string& name, std::function<std::string(double, const std::string&)> rule) {
  return CLI::Validator(
      [rule](std::string& input) {
        double v = 0;
        if (std::string why = finite(input, v); !why.empty()) return why;
        return rule(v, input);
      },
      name);
}

}  // namespace

CLI::Validator positive() {
  return number_check("POSITIVE", [](double v, const std::string& text) {
    return v > 0 ? std::string() : "must be greater than 0, got " + text;
  });
}

CLI::Validator non_negative() {
  return number_check("NONNEGATIVE", [](double v, const std::string& text) {
    return v >= 0 ? std::string() : "must be 0 or more, got " + text;
  });
}

CLI::Validator in_range(double lo, double hi) {
  return number_check("[" + number_text(lo) + " to " + number_text(hi) + "]", [lo, hi](double v, const std::string& text) {
    return v >= lo && v <= hi ? std::string()
                              : "must be from " + number_text(lo) + " to " + number_text(hi) + ", got " + text;
  });
}

CLI::Validator variant_text() {
  return CLI::Validator(
      [](std::string& input) {
        return trim(input).empty() ? std::string("is empty: give NAME=VALUE,... (e.g. THREADS=128), or leave "
                                                 "--variant out for every variant")
                                   : std::string();
      },
      "NAME=VALUE,...");
}

std::string warmup_help(double default_ms) {
  return "Wall milliseconds of warm-up replays before the timed ones, at least (default " + number_text(default_ms) +
         "). 250 times the GPU as a search finds it, its power state recovered in the pauses between timings; "
         "2000 as a server's, under sustained load (compute-bound times up to ~9% longer on an H200), as `ksearch "
         "bench` and the exported example time";
}

}  // namespace ks::cli
