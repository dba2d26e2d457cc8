#include "agent/cli/peers.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/paths.h"

namespace ks::cli {
namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::optional<double> time_of(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  if (!j[key].is_number() || j[key].get<double>() <= 0) throw Error(std::string("'") + key + "' is not a positive number");
  return j[key].get<double>();
}

}  // namespace

std::map<PeerKey, PeerTimes> measure_peers(const std::string& python, const std::vector<PeerKey>& shapes, int device) {
  namespace fs = std::filesystem;
  const fs::path script = project_root() / "scripts" / "torch_peers.py";
  // The requests go through a file: the script's stdout comes back through the pipe.
  char name[] = "/tmp/ksearch-peers-XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) throw Error("cannot create a temporary file for the peers' shapes");
  close(fd);
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove_requests{name};
  {
    std::ofstream out(name);
    for (auto& [task, shape] : shapes) out << nlohmann::json{{"task", task}, {"shape", shape}}.dump() << '\n';
    if (!out) throw Error(std::string("cannot write ") + name);
  }
  const std::string cmd = "CUDA_VISIBLE_DEVICES=" + std::to_string(device) + " " + shell_quote(python) + " " +
                          shell_quote(script.string()) + " < " + shell_quote(name);
  struct Close {
    void operator()(FILE* f) const { pclose(f); }
  };
  FILE* raw = popen(cmd.c_str(), "r");
  if (!raw) throw Error("cannot run " + python + " for the peers (popen failed)");
  std::unique_ptr<FILE, Close> pipe(raw);
  std::map<PeerKey, PeerTimes> out;
  std::string line;
  std::optional<std::string> refused;
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe.get())) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      if (!j.is_object()) throw Error("not a JSON object");
      if (!j.contains("task")) {  // the whole run refused: no torch, no GPU
        refused = j.value("error", std::string("no reason given"));
      } else {
        PeerTimes t;
        t.eager_us = time_of(j, "eager_us");
        t.compile_us = time_of(j, "compile_us");
        t.error = j.value("error", std::string());
        out[{j.at("task").get<std::string>(), j.at("shape").get<std::string>()}] = t;
      }
    } catch (const std::exception& e) {
      throw Error(script.string() + " printed a line that is not its protocol (" + e.what() + "): " + line.substr(0, 200));
    }
    line.clear();
  }
  const int status = pclose(pipe.release());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (refused) throw Error("the peers cannot be timed here: " + *refused + " (`ksearch bench` without --peers needs no torch)");
  if (code == 127) throw Error("cannot run '" + python + "' for the peers (give --python PATH to a Python with torch)");
  if (code != 0) throw Error(script.string() + " failed (exit " + std::to_string(code) + "; its messages are above)");
  for (auto& key : shapes)
    if (!out.count(key)) out[key].error = "the peers' script gave no time for this shape";
  return out;
}

}  // namespace ks::cli
