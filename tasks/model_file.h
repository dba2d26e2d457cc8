#pragma once
// A model file (models/<name>.json): per task, the fixed sizes one model's layers give it (the
// (K, N) of rmsnorm_linear's and gemm's products, swiglu_mlp's (H, I), softmax_matmul's (B, D)),
// the ranges of its bucket sizes, and its constants (eps). `--model FILE` on run, audit and bench
// reads one; each task's entry is a SizeSweep (tasks/size_sweep.h). The format:
//
//   { "model": "Llama-3-8B", "source": "where the numbers come from",
//     "tasks": { "rmsnorm_linear": { "constants": { "eps": 1e-5 },
//                                    "buckets": { "M": "1-4096" },
//                                    "sizes": [ { "name": "qkv", "K": 4096, "N": 6144 } ] } } }
//
// "model", "tasks" and each task's "buckets" and "sizes" are required; "source", "constants",
// and an entry's "name" and "note" are not. Every other key is refused, so a misspelt one is an
// error, not a size silently left at a default.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tasks/constants.h"
#include "tasks/size_sweep.h"
#include "tasks/task.h"

namespace ks {

struct ModelTask {
  SizeSweep sweep;
  Constants constants;  // as the file gives them: checked against the task, without its defaults
};

struct ModelFile {
  std::string path;   // as read, for messages
  std::string model;  // "Llama-3-8B"
  std::string source;
  std::map<std::string, ModelTask> tasks;  // by task name

  // The task's entry; throws ks::Error naming the file and the tasks it has.
  const ModelTask& task(const Task& t) const;
  // The tasks it has entries for, in all_tasks() order.
  std::vector<const Task*> task_list() const;
};

// Throws ks::Error, one line starting with `where` (the file's path) and naming the field
// (tasks.rmsnorm_linear.sizes[0].K), for text that is not JSON, a missing or unknown field, an
// unknown task, a size the task does not have, a value that is not a size or a range, a fixed set
// that leaves a size without a value, or a constant the task refuses.
ModelFile parse_model_file(const std::string& text, const std::string& where);
// Reads and parses the file; throws ks::Error naming it when it cannot be read.
ModelFile read_model_file(const std::filesystem::path& path);

}  // namespace ks
