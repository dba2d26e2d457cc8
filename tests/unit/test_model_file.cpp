// Model files (tasks/model_file.h): what a valid one gives, every way one can be wrong (each
// error naming the file and the field), and the shipped models/*.json: each parses, and every
// shape it gives is one its task takes, none left out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "evaluator/evaluate.h"
#include "tasks/model_file.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

const std::string kSmall = R"({
  "model": "Small", "source": "made up",
  "tasks": {
    "rmsnorm_linear": { "constants": { "eps": 1e-5 }, "buckets": { "M": "1-8" },
                        "sizes": [ { "name": "qkv", "K": 64, "N": 96, "note": "q, k, v" }, { "K": 64, "N": 256 } ] },
    "softmax_matmul": { "buckets": { "M": 1, "N": "8-64" }, "sizes": [ { "B": 4, "D": 64 } ] }
  }
})";

std::string error_of(const std::string& text) {
  try {
    parse_model_file(text, "models/x.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelFile, GivesEachTaskItsFixedSizesRangesAndConstants) {
  const ModelFile m = parse_model_file(kSmall, "models/small.json");
  EXPECT_EQ(m.model, "Small");
  EXPECT_EQ(m.source, "made up");
  EXPECT_EQ(m.path, "models/small.json");
  ASSERT_EQ(m.task_list().size(), 2u);
  EXPECT_EQ(m.task_list()[0]->name(), "rmsnorm_linear");  // all_tasks() order
  const ModelTask& rms = m.task(*find_task("rmsnorm_linear"));
  EXPECT_EQ(rms.constants, (Constants{{"eps", 1e-5}}));
  ASSERT_EQ(rms.sweep.fixed.size(), 2u);
  EXPECT_EQ(rms.sweep.fixed[0].label, "qkv");
  EXPECT_EQ(rms.sweep.fixed[0].sizes, (Shape{{"K", 64}, {"N", 96}}));
  EXPECT_EQ(rms.sweep.fixed[1].label, "");
  EXPECT_EQ(rms.sweep.buckets.at("M").hi, 8);
  const ModelTask& att = m.task(*find_task("softmax_matmul"));
  EXPECT_TRUE(att.constants.empty());
  EXPECT_EQ(att.sweep.buckets.at("M").lo, 1);  // an integer is one point
  EXPECT_EQ(att.sweep.buckets.at("M").hi, 1);
  try {
    m.task(*find_task("gemm"));
    FAIL() << "a task the file has no entry for";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "models/small.json gives no sizes for gemm (its tasks: rmsnorm_linear, softmax_matmul)");
  }
}

TEST(ModelFile, EachErrorNamesTheFileAndTheField) {
  const std::string rms_ok = R"("buckets": {"M": "1-8"}, "sizes": [{"K": 64, "N": 96}])";
  auto with_rms = [](const std::string& entry) {
    return R"({"model": "X", "tasks": {"rmsnorm_linear": {)" + entry + "}}}";
  };
  const struct {
    std::string text, says;
  } cases[] = {
      {"{\"model\": ", "models/x.json: not valid JSON"},
      {"[1, 2]", "models/x.json: is an array, not a JSON object"},
      {R"({"tasks": {}})", "models/x.json: has no \"model\" (required)"},
      {R"({"model": 7, "tasks": {}})", "models/x.json: model: is a number, not a string"},
      {R"({"model": "X"})", "models/x.json: has no \"tasks\" (required)"},
      {R"({"model": "X", "tasks": {}})", "models/x.json: tasks: give at least one task's entry"},
      {R"({"model": "X", "task": {}})", "models/x.json: unknown field \"task\""},
      {R"({"model": "X", "tasks": {"rmsnorm": {}}})", "models/x.json: tasks.rmsnorm: unknown task 'rmsnorm' (the tasks: "},
      {R"({"model": "X", "tasks": {"rmsnorm_linear": []}})", "models/x.json: tasks.rmsnorm_linear: is an array, not an object"},
      {with_rms(R"("sizes": [{"K": 64, "N": 96}])"), "models/x.json: tasks.rmsnorm_linear: has no \"buckets\" (required)"},
      {with_rms(R"("buckets": {"M": "1-8"})"), "models/x.json: tasks.rmsnorm_linear: has no \"sizes\" (required)"},
      {with_rms(rms_ok + R"(, "constant": {"eps": 1e-5})"), "models/x.json: tasks.rmsnorm_linear: unknown field \"constant\""},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [])"), "models/x.json: tasks.rmsnorm_linear.sizes: give a list"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [64])"), "models/x.json: tasks.rmsnorm_linear.sizes[0]: is a number, not an object"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"K": 64, "N": 96}, {"K": 64, "Q": 8, "N": 8}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[1]: rmsnorm_linear has no size Q (its sizes: M,K,N)"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"name": "qkv", "K": 64}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[0] (qkv): K=64 leaves rmsnorm_linear's N without a value"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"K": 64.5, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[0].K: 64.5 is not a size"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"K": -64, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[0].K: -64 is not a size"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"K": "64", "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[0].K: \"64\" is not a size"},
      {with_rms(R"("buckets": {"M": "1-8"}, "sizes": [{"M": 4, "K": 64, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.sizes[0]: M is given both a value (4) and a range (1-8)"},
      {with_rms(R"("buckets": {"M": "8-1"}, "sizes": [{"K": 64, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.buckets.M: '8-1': the range starts above its end"},
      {with_rms(R"("buckets": {"M": true}, "sizes": [{"K": 64, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.buckets.M: is a boolean, not a string"},
      {with_rms(R"("buckets": {"K": "8-64"}, "sizes": [{"M": 1, "N": 96}])"),
       "models/x.json: tasks.rmsnorm_linear.buckets.K: K is not a bucket size of rmsnorm_linear"},
      {with_rms(R"("buckets": {}, "sizes": [{"K": 64, "N": 96}])"), "models/x.json: tasks.rmsnorm_linear.buckets: give each bucket size a range"},
      {with_rms(rms_ok + R"(, "constants": {"epsilon": 1e-5})"),
       "models/x.json: tasks.rmsnorm_linear.constants: epsilon: rmsnorm_linear has no constant epsilon (its constants: eps)"},
      {with_rms(rms_ok + R"(, "constants": {"eps": -1e-5})"), "models/x.json: tasks.rmsnorm_linear.constants: eps=-1e-05: eps must be positive"},
      {with_rms(rms_ok + R"(, "constants": {"eps": "1e-5"})"), "models/x.json: tasks.rmsnorm_linear.constants.eps: \"1e-5\" is not a number"},
      {R"({"model": "X", "tasks": {"gemm": {"buckets": {"M": "1-8"}, "sizes": [{"K": 64, "N": 96}], "constants": {"eps": 1e-5}}}})",
       "models/x.json: tasks.gemm.constants: eps: gemm has no constants"},
  };
  for (auto& c : cases) {
    const std::string e = error_of(c.text);
    EXPECT_NE(e.find(c.says), std::string::npos) << c.text << "\n  said: " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  }
}

TEST(ModelFile, AFileThatCannotBeReadIsNamed) {
  test::TempDir t;
  try {
    read_model_file(t.file("missing.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read the model file " + t.file("missing.json"));
  }
  std::ofstream(t.file("bad.json")) << "{ not json";
  try {
    read_model_file(t.file("bad.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(t.file("bad.json") + ": not valid JSON")) << e.what();
  }
}

// Every model shipped parses, gives each of its tasks shapes the task takes, every one of them
// (a size that breaks a constraint would be left out at run time: here it fails), and constants
// the task takes.
TEST(ModelFile, EveryShippedModelParsesAndEveryShapeFitsItsTask) {
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(fs::path(KSEARCH_SOURCE_DIR) / "models")) files.push_back(e.path());
  ASSERT_GE(files.size(), 3u) << "models/ ships llama-3-8b and two or three others";
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    ASSERT_EQ(f.extension(), ".json") << "models/ holds model files only";
    const ModelFile m = read_model_file(f);
    ASSERT_FALSE(m.task_list().empty());
    for (const Task* t : m.task_list()) {
      SCOPED_TRACE(t->name());
      const ModelTask& mt = m.task(*t);
      resolve_constants(*t, mt.constants);
      std::vector<std::string> refused;
      const SweptShapes s = sweep_shapes(*t, mt.sweep, [&](const Shape& shape) {
        try {
          check_shape(*t, shape);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
      EXPECT_TRUE(s.dropped.empty()) << s.dropped.front();
      size_t expected = mt.sweep.fixed.size();
      for (auto& [sym, range] : mt.sweep.buckets) expected *= bucket_points(range).size();
      EXPECT_EQ(s.shapes.size(), expected);
      for (auto& shape : s.shapes) EXPECT_NO_THROW(check_shape(*t, shape)) << t->format_shape(shape);
    }
  }
}

TEST(ModelFile, Llama3_8bIsTheIssuesExample) {
  const ModelFile m = read_model_file(fs::path(KSEARCH_SOURCE_DIR) / "models" / "llama-3-8b.json");
  const ModelTask& rms = m.task(*find_task("rmsnorm_linear"));
  EXPECT_EQ(rms.constants.at("eps"), 1e-5);
  EXPECT_EQ(rms.sweep.fixed.front().sizes, (Shape{{"K", 4096}, {"N", 6144}}));
  EXPECT_EQ(bucket_points(rms.sweep.buckets.at("M")).size(), 13u);  // 1, 2, 4, ..., 4096
  EXPECT_EQ(m.task(*find_task("swiglu_mlp")).sweep.fixed.front().sizes, (Shape{{"H", 4096}, {"I", 14336}}));
  EXPECT_EQ(m.task(*find_task("softmax_matmul")).sweep.fixed.front().sizes, (Shape{{"B", 32}, {"D", 128}}));
  EXPECT_EQ(m.task_list().size(), all_tasks().size());
}

}  // namespace
}  // namespace ks
