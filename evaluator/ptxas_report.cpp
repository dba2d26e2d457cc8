#include "evaluator/ptxas_report.h"
#include "evaluator/text.h"

#include <charconv>
#include <string>

namespace ks {
namespace {

// Formats seen with NVRTC 13.0 (sm_80 adds ", N bytes cmem[0]"; a kernel with a local array
// adds ", N bytes cumulative stack size"; older ptxas omit the barriers item):
//   ptxas info    : Compiling entry function 'k' for 'sm_90a'
//   ptxas info    : Function properties for k
//   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//   ptxas info    : Used 12 registers, used 1 barriers, 1024 bytes smem, 360 bytes cmem[0]
// so the figures are read item by item (", "-separated "<number> <what>") rather than by
// position.

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The text after "ptxas info    :", or after "ptxas         ." for the stack-frame line. False
// when the line is not one of ptxas's.
bool ptxas_payload(std::string_view line, std::string_view& payload) {
  if (!starts_with(line, "ptxas")) return false;
  line.remove_prefix(5);
  const size_t colon = line.find(':');
  // "ptxas info    : ..." has a colon right after the tag; the stack-frame line has none.
  if (colon != std::string_view::npos && trim(line.substr(0, colon)) == "info") {
    payload = trim(line.substr(colon + 1));
  } else {
    payload = trim(line);
    if (starts_with(payload, ".")) payload = trim(payload.substr(1));
  }
  return true;
}

// Calls on_item(number, what) for each "<number> <what>" item of a ", "-separated list.
template <class OnItem>
void for_each_item(std::string_view list, OnItem on_item) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    long long value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc{}) continue;
    on_item(static_cast<int>(value), trim(item.substr(static_cast<size_t>(end - item.data()))));
  }
}

std::string_view quoted(std::string_view s) {
  const size_t open = s.find('\'');
  if (open == std::string_view::npos) return {};
  const size_t close = s.find('\'', open + 1);
  if (close == std::string_view::npos) return {};
  return s.substr(open + 1, close - open - 1);
}

}  // namespace

std::vector<KernelResources> parse_ptxas_report(std::string_view log) {
  std::vector<KernelResources> kernels;
  // The function the following figures belong to: the latest "Compiling entry function" or
  // "Function properties for" name. Figures for a name that is not a kernel are dropped.
  std::string subject;
  auto subject_kernel = [&]() -> KernelResources* {
    for (auto& k : kernels) {
      if (k.kernel == subject) return &k;
    }
    return nullptr;
  };

  while (!log.empty()) {
    const size_t nl = log.find('\n');
    const std::string_view line = log.substr(0, nl);
    log = nl == std::string_view::npos ? std::string_view{} : log.substr(nl + 1);

    std::string_view payload;
    if (!ptxas_payload(line, payload)) continue;

    if (starts_with(payload, "Compiling entry function")) {
      subject = std::string(quoted(payload));
      if (!subject.empty() && subject_kernel() == nullptr) kernels.push_back({.kernel = subject});
    } else if (starts_with(payload, "Function properties for")) {
      subject = std::string(trim(payload.substr(std::string_view("Function properties for").size())));
    } else if (starts_with(payload, "Used ")) {
      KernelResources* k = subject_kernel();
      if (k == nullptr) continue;
      for_each_item(payload.substr(5), [&](int value, std::string_view what) {
        if (what == "registers") k->registers = value;
        else if (what == "bytes smem") k->static_smem_bytes = value;
      });
    } else if (payload.find("bytes stack frame") != std::string_view::npos) {
      KernelResources* k = subject_kernel();
      if (k == nullptr) continue;
      for_each_item(payload, [&](int value, std::string_view what) {
        if (what == "bytes stack frame") k->stack_bytes = value;
        else if (what == "bytes spill stores") k->spill_store_bytes = value;
        else if (what == "bytes spill loads") k->spill_load_bytes = value;
      });
    }
  }
  return kernels;
}

}  // namespace ks
