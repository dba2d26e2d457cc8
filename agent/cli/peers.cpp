#include "agent/cli/peers.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/paths.h"
#include "evaluator/child_process.h"

namespace ks::cli {
namespace {

// A torch.compile of a large shape takes minutes; a script that says nothing for this long hangs.
constexpr auto kPerShape = std::chrono::minutes(10);

std::optional<double> time_of(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  if (!j[key].is_number() || j[key].get<double>() <= 0) throw Error(std::string("'") + key + "' is not a positive number");
  return j[key].get<double>();
}

}  // namespace

std::map<PeerKey, PeerTimes> measure_peers(const std::string& python, const std::vector<PeerKey>& shapes, int device,
                                           double warmup_s) {
  const std::string script = (project_root() / "scripts" / "torch_peers.py").string();
  // env finds python on the PATH (exit 127 when it cannot) and sets the device; the script's
  // progress goes to our stderr. One request line out, one answer line back.
  ChildProcess child({"/usr/bin/env", "CUDA_VISIBLE_DEVICES=" + std::to_string(device), python, script});
  auto protocol_error = [&](const std::string& why, const std::string& line) {
    return Error(script + " printed a line that is not its protocol (" + why + "): " + line.substr(0, 200));
  };
  std::map<PeerKey, PeerTimes> out;
  for (const PeerKey& key : shapes) {
    child.write_line(nlohmann::json{{"task", key.first}, {"shape", key.second}, {"warmup_s", warmup_s}}.dump());
    std::string line;
    switch (child.read_line(line, ChildProcess::Clock::now() + kPerShape)) {
      case ChildProcess::Read::line: break;
      case ChildProcess::Read::eof: {
        const std::string status = child.exit_status();
        if (status == "exit code 127")
          throw Error("cannot run '" + python + "' for the peers (give --python PATH to a Python with torch)");
        if (status != "exit code 0")
          throw Error(script + " failed (" + (status.rfind("exit code ", 0) == 0 ? "exit " + status.substr(10) : status) +
                      "; its messages are above)");
        // It ended without answering: this shape and the rest have no time, each saying so.
        for (const PeerKey& rest : shapes)
          if (!out.count(rest)) out[rest].error = "the peers' script gave no time for this shape";
        return out;
      }
      case ChildProcess::Read::timeout: throw Error(script + " gave no answer for " + key.first + " " + key.second + " in 10 minutes");
      case ChildProcess::Read::too_long: throw protocol_error("a line over its size limit", line);
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw protocol_error(e.what(), line);
    }
    if (!j.is_object()) throw protocol_error("not a JSON object", line);
    if (!j.contains("task"))  // the whole run refused: no torch, no GPU
      throw Error("the peers cannot be timed here: " + j.value("error", std::string("no reason given")) +
                  " (`ksearch bench` without --peers needs no torch)");
    PeerTimes t;
    try {
      t.eager_us = time_of(j, "eager_us");
      t.compile_us = time_of(j, "compile_us");
      if (j.at("task") != key.first || j.at("shape") != key.second) throw Error("the answer is for another shape");
      t.error = j.value("error", std::string());
    } catch (const std::exception& e) {
      throw protocol_error(e.what(), line);
    }
    out[key] = t;
  }
  return out;
}

}  // namespace ks::cli
