// The shape options of run, audit and bench (shape_options.h): their texts read, the model file
// found and parsed, and each task's shapes swept, with the task's constraints as the filter.
#include "agent/cli/shape_options.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "base/paths.h"
#include "evaluator/evaluate.h"

namespace ks::cli {
namespace {

namespace fs = std::filesystem;

std::string shipped_models() {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(project_root() / "models", ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

// --buckets "M=1-4096,N=128-8192" into the map; a symbol given two ranges is refused.
void add_buckets(const std::string& text, std::map<std::string, std::pair<std::string, BucketRange>>& out) {
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("--buckets '" + text + "': '" + item + "' is not SYM=LO-HI (give e.g. M=1-4096)");
    const std::string sym = item.substr(0, eq);
    BucketRange r;
    try {
      r = parse_bucket_range(item.substr(eq + 1));
    } catch (const Error& e) {
      throw Error("--buckets " + sym + ": " + e.what());
    }
    if (auto it = out.find(sym); it != out.end())
      throw Error(sym + " is given two ranges: " + it->second.first + " and --buckets " + item);
    out[sym] = {"--buckets " + item, r};
  }
}

std::string shape_problem(const Task& task, const Shape& shape) {
  try {
    check_shape(task, shape);
    return {};
  } catch (const Error& e) {
    return e.what();
  }
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

void add_shape_options(CLI::App* cmd, ShapeOptions& o, const std::string& instead) {
  const char* group = "Shapes by parts: a model's fixed sizes crossed with bucket sizes sampled at powers of two";
  cmd->add_option("--model", o.model,
                  "A model file: a path, or a name in models/ (e.g. llama-3-8b); its fixed sizes, bucket ranges and "
                  "constants for the task replace " + instead + " (--const still overrides its constants)")
      ->type_name("FILE")
      ->group(group);
  cmd->add_option("--dims", o.dims,
                  "The task's fixed sizes by name, e.g. K=4096,N=6144 (repeatable, one set each), crossed with the "
                  "--m / --buckets points; replaces " + instead)
      ->type_name("NAME=V,...")
      ->group(group);
  cmd->add_option("--buckets", o.buckets,
                  "A bucket size's range, SYM=LO-HI (repeatable, or comma-separated), e.g. M=1-4096: sampled at LO, "
                  "every power of two between, and HI; replaces the model file's range for SYM")
      ->type_name("SYM=LO-HI")
      ->group(group);
  cmd->add_option("--m", o.m, "Short for --buckets M=LO-HI, e.g. --m 1-4096")->type_name("LO-HI")
      ->group(group);
}

fs::path model_file_path(const std::string& text) {
  if (fs::exists(text)) return text;
  // A bare name is one of the repository's models: "llama-3-8b" or "llama-3-8b.json".
  if (text.find('/') == std::string::npos) {
    fs::path p = project_root() / "models" / text;
    if (p.extension() != ".json") p += ".json";
    if (fs::exists(p)) return p;
  }
  throw Error("--model " + text + ": no such file, and no models/" + text +
              (text.ends_with(".json") ? "" : ".json") + " (the models shipped: " + shipped_models() + ")");
}

ShapeParts read_shape_options(const ShapeOptions& o) {
  ShapeParts c;
  if (!o.model.empty() && !o.dims.empty())
    throw Error("--model and --dims both give the fixed sizes: give one of them");
  if (!o.m.empty()) {
    try {
      c.buckets["M"] = {"--m " + o.m, parse_bucket_range(o.m)};
    } catch (const Error& e) {
      throw Error(std::string("--m ") + e.what());
    }
  }
  for (auto& text : o.buckets) add_buckets(text, c.buckets);
  for (auto& text : o.dims) {
    try {
      c.dims.push_back({text, parse_fixed_sizes(text)});
    } catch (const Error& e) {
      throw Error(std::string("--dims ") + e.what());
    }
  }
  if (!c.buckets.empty() && o.dims.empty() && o.model.empty())
    throw Error(c.buckets.begin()->second.first +
                ": a bucket range needs fixed sizes to cross: give --dims NAME=VALUE,... or --model FILE");
  if (!o.model.empty()) c.model = read_model_file(model_file_path(o.model));
  return c;
}

void check_shape_parts(const ShapeParts& c, const std::vector<const Task*>& tasks) {
  if (!c.dims.empty() && tasks.size() != 1)
    throw Error("--dims gives one task's sizes: name the task (--task)");
  for (auto& [sym, given] : c.buckets) {
    bool applies = false;
    for (const Task* t : tasks) applies = applies || has(t->bucket_symbols(), sym);
    if (applies) continue;
    if (tasks.size() == 1) {
      try {
        check_bucket_symbol(*tasks.front(), sym);
      } catch (const Error& e) {
        throw Error(given.first + ": " + e.what());
      }
    }
    std::string list;
    for (const Task* t : tasks) {
      std::string syms;
      for (auto& s : t->bucket_symbols()) syms += (syms.empty() ? "" : ",") + s;
      list += (list.empty() ? "" : "; ") + t->name() + ": " + syms;
    }
    throw Error(given.first + ": none of the tasks has a bucket size " + sym + " (" + list + ")");
  }
  if (c.model)
    for (const Task* t : tasks) c.model->task(*t);  // throws naming the file and the tasks it has
}

std::optional<ChosenShapes> chosen_shapes(const Task& task, const ShapeParts& c) {
  if (!c.given()) return std::nullopt;
  SizeSweep sweep;
  std::string from;
  if (c.model) {
    sweep = c.model->task(task).sweep;
    from = c.model->path + " (" + c.model->model + ")";
  } else {
    from = "--dims";
  }
  for (auto& [sym, given] : c.buckets)
    if (has(task.bucket_symbols(), sym)) {
      sweep.buckets[sym] = given.second;
      from += ", " + given.first;
    }
  for (auto& [text, sizes] : c.dims) {
    try {
      check_fixed_sizes(task, sizes, sweep.buckets);
    } catch (const Error& e) {
      throw Error("--dims " + text + ": " + e.what());
    }
    sweep.fixed.push_back({"", sizes});
  }
  ChosenShapes out;
  try {
    SweptShapes swept = sweep_shapes(task, sweep, [&](const Shape& s) { return shape_problem(task, s); });
    out.shapes = std::move(swept.shapes);
    out.dropped = std::move(swept.dropped);
  } catch (const Error& e) {
    throw Error(from + ": " + e.what());
  }
  out.description = task.name() + ": " + std::to_string(out.shapes.size()) + " shape(s) from " + from + ": " +
                    describe_sweep(task, sweep);
  return out;
}

void print_chosen(const ChosenShapes& chosen) {
  for (auto& d : chosen.dropped) std::cerr << d << '\n';
  std::cerr << chosen.description << '\n';
}

}  // namespace ks::cli
