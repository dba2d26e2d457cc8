#include "tasks/model_file.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace ks {
namespace {

using nlohmann::json;

// Errors name the file, then the field: "models/x.json: tasks.gemm.sizes[1].K: ...".
struct Where {
  std::string file;
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(file + ": " + (field.empty() ? "" : field + ": ") + what);
  }
};

const char* kind_of(const json& j) {
  return j.is_object() ? "an object" : j.is_array() ? "an array" : j.is_string() ? "a string"
         : j.is_number() ? "a number" : j.is_boolean() ? "a boolean" : "null";
}

const json& required(const Where& w, const json& obj, const std::string& field, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end()) w.fail(field, "has no \"" + key + "\" (required)");
  return *it;
}

void only_keys(const Where& w, const json& obj, const std::string& field, const std::vector<std::string>& keys) {
  for (auto& [key, _] : obj.items())
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string list;
      for (auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      w.fail(field, "unknown field \"" + key + "\" (the fields: " + list + ")");
    }
}

std::string string_field(const Where& w, const json& j, const std::string& field) {
  if (!j.is_string()) w.fail(field, std::string("is ") + kind_of(j) + ", not a string");
  return j.get<std::string>();
}

int64_t size_field(const Where& w, const json& j, const std::string& field) {
  if (!j.is_number_integer() || j.get<int64_t>() < 1 || j.get<int64_t>() > 2147483647)
    w.fail(field, j.dump() + " is not a size (an integer in 1 to 2147483647)");
  return j.get<int64_t>();
}

std::map<std::string, BucketRange> read_buckets(const Where& w, const Task& task, const json& j, const std::string& field) {
  if (!j.is_object() || j.empty())
    w.fail(field, "give each bucket size a range, e.g. {\"M\": \"1-4096\"}");
  std::map<std::string, BucketRange> out;
  for (auto& [sym, range] : j.items()) {
    const std::string f = field + "." + sym;
    const std::string text = range.is_number_integer() ? range.dump() : string_field(w, range, f);
    try {
      check_bucket_symbol(task, sym);
      out[sym] = parse_bucket_range(text);
    } catch (const Error& e) {
      w.fail(f, e.what());
    }
  }
  return out;
}

FixedSizes read_fixed(const Where& w, const Task& task, const json& j, const std::string& field,
                      const std::map<std::string, BucketRange>& buckets) {
  if (!j.is_object()) w.fail(field, std::string("is ") + kind_of(j) + ", not an object such as {\"K\": 4096, \"N\": 6144}");
  FixedSizes out;
  for (auto& [key, value] : j.items()) {
    if (key == "name")
      out.label = string_field(w, value, field + ".name");
    else if (key == "note")
      string_field(w, value, field + ".note");  // for the reader of the file
    else
      out.sizes[key] = size_field(w, value, field + "." + key);
  }
  try {
    check_fixed_sizes(task, out.sizes, buckets);
  } catch (const Error& e) {
    w.fail(field + (out.label.empty() ? "" : " (" + out.label + ")"), e.what());
  }
  return out;
}

ModelTask read_task(const Where& w, const Task& task, const json& j, const std::string& field) {
  if (!j.is_object()) w.fail(field, std::string("is ") + kind_of(j) + ", not an object");
  only_keys(w, j, field, {"constants", "buckets", "sizes"});
  ModelTask out;
  out.sweep.buckets = read_buckets(w, task, required(w, j, field, "buckets"), field + ".buckets");
  const json& sizes = required(w, j, field, "sizes");
  if (!sizes.is_array() || sizes.empty())
    w.fail(field + ".sizes", "give a list of the fixed sizes, e.g. [{\"name\": \"qkv\", \"K\": 4096, \"N\": 6144}]");
  for (size_t i = 0; i < sizes.size(); ++i)
    out.sweep.fixed.push_back(read_fixed(w, task, sizes[i], field + ".sizes[" + std::to_string(i) + "]", out.sweep.buckets));
  if (auto c = j.find("constants"); c != j.end()) {
    if (!c->is_object()) w.fail(field + ".constants", std::string("is ") + kind_of(*c) + ", not an object such as {\"eps\": 1e-5}");
    for (auto& [name, value] : c->items()) {
      if (!value.is_number()) w.fail(field + ".constants." + name, value.dump() + " is not a number");
      out.constants[name] = value.get<double>();
    }
    try {
      resolve_constants(task, out.constants);  // a name the task has, a value it takes
    } catch (const Error& e) {
      w.fail(field + ".constants", e.what());
    }
  }
  return out;
}

}  // namespace

ModelFile parse_model_file(const std::string& text, const std::string& where) {
  const Where w{where};
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    w.fail("", std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) w.fail("", std::string("is ") + kind_of(j) + ", not a JSON object");
  only_keys(w, j, "", {"model", "source", "tasks"});
  ModelFile out;
  out.path = where;
  out.model = string_field(w, required(w, j, "", "model"), "model");
  if (auto s = j.find("source"); s != j.end()) out.source = string_field(w, *s, "source");
  const json& tasks = required(w, j, "", "tasks");
  if (!tasks.is_object() || tasks.empty()) w.fail("tasks", "give at least one task's entry, by the task's name");
  for (auto& [name, entry] : tasks.items()) {
    const Task* t = find_task(name);
    if (!t) {
      std::string list;
      for (auto* k : all_tasks()) list += (list.empty() ? "" : ", ") + k->name();
      w.fail("tasks." + name, "unknown task '" + name + "' (the tasks: " + list + ")");
    }
    out.tasks[name] = read_task(w, *t, entry, "tasks." + name);
  }
  return out;
}

ModelFile read_model_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read the model file " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_model_file(text.str(), path.string());
}

const ModelTask& ModelFile::task(const Task& t) const {
  auto it = tasks.find(t.name());
  if (it != tasks.end()) return it->second;
  std::string list;
  for (auto* k : task_list()) list += (list.empty() ? "" : ", ") + k->name();
  throw Error(path + " gives no sizes for " + t.name() + " (its tasks: " + list + ")");
}

std::vector<const Task*> ModelFile::task_list() const {
  std::vector<const Task*> out;
  for (const Task* t : all_tasks())
    if (tasks.count(t->name())) out.push_back(t);
  return out;
}

}  // namespace ks
