// A task's constants at run time (tasks/constants.h): NAME=VALUE texts, resolution against the
// task's defaults (unknown names, values out of range), the audit's varied values, the CPU
// reference computing with the value given, and the worker request carrying it exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "base/error.h"
#include "evaluator/row_json.h"
#include "tasks/task.h"

namespace ks {
namespace {

const Task& rms() { return *find_task("rmsnorm_linear"); }
const Task& gemm() { return *find_task("gemm"); }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Constants, ParsedFromNameValueTexts) {
  EXPECT_EQ(parse_constants({"eps=1e-5"}), (Constants{{"eps", 1e-5}}));
  EXPECT_EQ(parse_constants({"eps=0.5", "beta=2"}), (Constants{{"eps", 0.5}, {"beta", 2}}));
  EXPECT_TRUE(parse_constants({}).empty());
  const struct {
    std::vector<std::string> texts;
    std::string says;
  } bad[] = {
      {{"eps"}, "'eps': give NAME=VALUE"},
      {{"=1"}, "give NAME=VALUE"},
      {{"eps="}, "'' is not a number"},
      {{"eps=abc"}, "eps=abc: 'abc' is not a number"},
      {{"eps=1e-5x"}, "is not a number"},
      {{"eps=nan"}, "'nan' is not a finite number"},
      {{"eps=-inf"}, "is not a finite number"},
      {{"eps=1", "eps=2"}, "eps is given twice"},
  };
  for (auto& b : bad) {
    const std::string e = error_of([&] { parse_constants(b.texts); });
    EXPECT_NE(e.find(b.says), std::string::npos) << b.texts[0] << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(Constants, ResolvedFromTheDefaultsAndWhatIsGiven) {
  EXPECT_EQ(resolve_constants(rms(), {}), (Constants{{"eps", 1e-6}}));
  EXPECT_EQ(resolve_constants(rms(), {{"eps", 1e-5}}), (Constants{{"eps", 1e-5}}));
  const Constants once = resolve_constants(rms(), {{"eps", 1e-5}});
  EXPECT_EQ(resolve_constants(rms(), once), once) << "a resolved map resolves to itself";
  EXPECT_TRUE(resolve_constants(gemm(), {}).empty());
  EXPECT_EQ(error_of([] { resolve_constants(rms(), {{"epsilon", 1e-5}}); }),
            "epsilon: rmsnorm_linear has no constant epsilon (its constants: eps)");
  EXPECT_EQ(error_of([] { resolve_constants(gemm(), {{"eps", 1e-5}}); }), "eps: gemm has no constants");
  // Kernels get a float: positive as a float, and finite as one too.
  for (double v : {0.0, -1e-5, 1e-50, 1e39}) {
    const std::string e = error_of([&] { resolve_constants(rms(), {{"eps", v}}); });
    EXPECT_EQ(e.rfind("eps=", 0), 0u) << v << ": " << e;
    EXPECT_NE(e.find(v > 1 ? "not a finite float" : "must be positive"), std::string::npos) << v << ": " << e;
  }
  EXPECT_EQ(resolve_constants(rms(), {{"eps", 1e-30}}).at("eps"), 1e-30);
}

TEST(Constants, SeveralTasksTakeEachValueWhereItsNameIsKnown) {
  const std::vector<const Task*> all = all_tasks();
  auto r = resolve_constants(all, {{"eps", 1e-5}});
  EXPECT_EQ(r.at(&rms()), (Constants{{"eps", 1e-5}}));
  EXPECT_TRUE(r.at(&gemm()).empty());
  r = resolve_constants(all, {});
  EXPECT_EQ(r.at(&rms()), (Constants{{"eps", 1e-6}}));
  EXPECT_EQ(error_of([&] { resolve_constants(all, {{"beta", 1}}); }),
            "beta: none of the tasks has a constant beta (rmsnorm_linear: eps; swiglu_mlp: none; "
            "softmax_matmul: none; gemm: none)");
  EXPECT_EQ(error_of([&] { resolve_constants({&gemm()}, {{"eps", 1e-5}}); }), "eps: gemm has no constants");
  EXPECT_NE(error_of([&] { resolve_constants(all, {{"eps", -1}}); }).find("must be positive"), std::string::npos);
}

// The audit's second check moves each constant by 10: up where that stays in range.
TEST(Constants, VariedByAFactorOfTen) {
  EXPECT_EQ(varied_constants(rms(), resolve_constants(rms(), {})), (Constants{{"eps", 1e-5}}));
  EXPECT_EQ(varied_constants(rms(), {{"eps", 1e-5}}).at("eps"), 1e-4);
  EXPECT_EQ(varied_constants(rms(), {{"eps", 1e38}}).at("eps"), 1e37) << "10x would overflow a float";
  EXPECT_TRUE(varied_constants(gemm(), {}).empty());
  EXPECT_EQ(format_constants({{"eps", 1e-5}}), "eps=1e-05");
  EXPECT_EQ(format_constants({}), "");
}

// A row of tiny magnitude (mean square ~6e-8; the hard inputs' tiny rows have ~1e-6): eps decides
// its scale. The CPU reference computes with the value given, not a baked-in one.
TEST(Constants, TheCpuReferenceComputesWithTheEpsGiven) {
  const Shape s{{"M", 1}, {"K", 8}, {"N", 2}};
  HostBuffers in;
  in["X"] = HostBuffer(DType::bf16, {1, 8});
  in["gamma"] = HostBuffer(DType::bf16, {8});
  in["W"] = HostBuffer(DType::bf16, {2, 8});
  for (int k = 0; k < 8; ++k) {
    in["X"].set(k, (k % 2 ? -0.5e-4 : 0.5e-4) * (k + 1));
    in["gamma"].set(k, 1);
    in["W"].set(k, 1);          // row 0: the sum of X
    in["W"].set(8 + k, k == 0);  // row 1: X[0]
  }
  double ss = 0, sum = 0;
  for (int k = 0; k < 8; ++k) {
    ss += in["X"].get(k) * in["X"].get(k);
    sum += in["X"].get(k);
  }
  for (double eps : {1e-6, 1e-5}) {
    const auto y = rms().cpu_reference_row(s, {{"eps", eps}}, in, "Y", 0);
    const double r = 1 / std::sqrt(ss / 8 + eps);
    EXPECT_NEAR(y[0], sum * r, 1e-12) << eps;
    EXPECT_NEAR(y[1], in["X"].get(0) * r, 1e-12) << eps;
  }
  const double ratio = rms().cpu_reference_row(s, {{"eps", 1e-6}}, in, "Y", 0)[1] /
                       rms().cpu_reference_row(s, {{"eps", 1e-5}}, in, "Y", 0)[1];
  EXPECT_GT(ratio, 2.0) << "on such a row eps 1e-5 and 1e-6 are far apart, so the check tells them apart";
  HostBuffers whole;
  rms().cpu_reference(s, {{"eps", 1e-5}}, in, whole);
  EXPECT_EQ(whole.at("Y").get(1), rms().cpu_reference_row(s, {{"eps", 1e-5}}, in, "Y", 0)[1]);
}

// The worker receives its settings as JSON: the constants arrive exactly, and a request without
// them is malformed (never silently the defaults).
TEST(Constants, TheWorkerRequestCarriesThemExactly) {
  EvalRequest r;
  r.task = "rmsnorm_linear";
  r.origin = "x.cu";
  r.shape = {{"M", 1}, {"K", 8}, {"N", 8}};
  r.settings.constants = {{"eps", 1.2345678901234567e-5}};
  nlohmann::json j = nlohmann::json::parse(to_json(r).dump());
  EXPECT_EQ(request_from_json(j).settings.constants, r.settings.constants);
  j.erase("constants");
  EXPECT_THROW(request_from_json(j), Error);
}

}  // namespace
}  // namespace ks
