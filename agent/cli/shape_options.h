#pragma once
// --model, --dims, --buckets and --m: the shapes run, audit and bench work over, given by parts
// (a model's fixed sizes crossed with sampled bucket sizes: tasks/size_sweep.h) in place of the
// task's own search shapes (run, bench) or held-out shapes (audit).
//
// Rules, checked before any GPU is touched, each break one line naming the option:
// - --model FILE gives every task it has an entry for its fixed sizes, bucket ranges and
//   constants; --dims gives one task's fixed sizes (one set per --dims). One or the other.
// - --buckets SYM=LO-HI (and --m LO-HI, its short form for M) sets a bucket size's range; over
//   a model file it replaces the file's range for that size (`--model llama-3-8b --m 1-64`: its
//   decode shapes). Alone it has no fixed sizes to cross and is refused.
// - Constants: the task's defaults, replaced by the model file's, replaced by --const.
#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tasks/model_file.h"
#include "tasks/size_sweep.h"
#include "tasks/task.h"

namespace ks::cli {

// The options as given.
struct ShapeOptions {
  std::string model;                 // --model FILE or NAME
  std::vector<std::string> dims;     // --dims NAME=VALUE,..., one fixed set each
  std::vector<std::string> buckets;  // --buckets SYM=LO-HI[,SYM=LO-HI]
  std::string m;                     // --m LO-HI

  bool given() const { return !model.empty() || !dims.empty() || !buckets.empty() || !m.empty(); }
};

// Registers the four options; `instead` says what they replace, for --help ("the task's search
// shapes").
void add_shape_options(CLI::App* cmd, ShapeOptions& o, const std::string& instead);

// The options read and checked as far as they can be without a task: the model file parsed, the
// texts parsed, the combinations allowed. Throws ks::Error, one line naming the option.
struct ShapeParts {
  std::optional<ModelFile> model;
  std::vector<std::pair<std::string, Shape>> dims;           // each --dims text and its sizes
  std::map<std::string, std::pair<std::string, BucketRange>> buckets;  // by symbol: its option text, range

  bool given() const { return model || !dims.empty() || !buckets.empty(); }
};
ShapeParts read_shape_options(const ShapeOptions& o);

// The model file --model names: a path, or the name of a file in the repository's models/
// ("llama-3-8b"). Throws ks::Error listing models/ when there is neither.
std::filesystem::path model_file_path(const std::string& text);

// Checks the parts against the tasks a command works over: --dims needs exactly one, and each
// --buckets symbol must be a bucket size of one of them at least (of each task it is one of, its
// range applies). With a model file, every task must have an entry in it. Throws ks::Error.
void check_shape_parts(const ShapeParts& c, const std::vector<const Task*>& tasks);

// The shapes chosen for one task; nullopt when no shape option was given (the command's own).
struct ChosenShapes {
  std::vector<Shape> shapes;
  std::vector<std::string> dropped;  // shapes the task refuses, left out, with the reason
  std::string description;          // "rmsnorm_linear: 39 shapes from models/llama-3-8b.json (...): ..."
};
std::optional<ChosenShapes> chosen_shapes(const Task& task, const ShapeParts& c);

// Prints the dropped shapes and the description, a line each, on stderr.
void print_chosen(const ChosenShapes& chosen);

}  // namespace ks::cli
