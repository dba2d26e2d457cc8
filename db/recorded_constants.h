#pragma once
// The task's constants as the archive's rows record them (runs, evaluations and audits keep a
// JSON object, {"eps": 1e-05}), to and from that text.
#include <string>

#include "tasks/task.h"

namespace ks {

// The text a row records: every constant of the map, exactly (JSON numbers round-trip).
std::string constants_json(const Constants& c);

// The constants a row used: the task's defaults, replaced by what `json` names ('{}' names
// nothing: a task without constants). Throws ks::Error for text that is not a JSON object of
// numbers: a damaged archive, never a guess.
Constants recorded_constants(const Task& task, const std::string& json);

}  // namespace ks
