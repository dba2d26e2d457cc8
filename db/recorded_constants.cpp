#include "db/recorded_constants.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace ks {

std::string constants_json(const Constants& c) { return nlohmann::json(c).dump(); }

Constants recorded_constants(const Task& task, const std::string& json) {
  Constants out;
  for (auto& c : task.constants()) out[c.name] = c.value;
  try {
    for (auto& [name, value] : nlohmann::json::parse(json).get<Constants>()) out[name] = value;
  } catch (const nlohmann::json::exception& e) {
    throw Error("malformed constants '" + json + "' in the archive: " + e.what());
  }
  return out;
}

}  // namespace ks
