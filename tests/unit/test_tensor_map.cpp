// Tensor maps in plans (parsing, validation and every limit checked before the driver sees a map),
// the device's facts as expression names, and programmatic dependent launch on a step. CPU only:
// the encoding itself runs on the GPU machine (GpuTensorMap).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "evaluator/plan.h"
#include "evaluator/tensor_map.h"
#include "tasks/task.h"

namespace ks {
namespace {

using Json = nlohmann::ordered_json;

// rmsnorm_linear's names: X [M,K], gamma [K], W [N,K], Y [M,N], constant eps.
const Task& task() { return *find_task("rmsnorm_linear"); }

Json plan_json() {
  return Json::parse(R"({
    "task": "rmsnorm_linear", "name": "tma",
    "params": { "BM": [64, 128], "BK": [64] },
    "workspace": { "acc": "M * N * 4" },
    "tensor_maps": {
      "a_map": { "buffer": "X", "dims": ["K", "M"], "box": ["BK", "BM"], "swizzle": "128B",
                 "l2_promotion": "256B" },
      "acc_map": { "buffer": "acc", "dtype": "f32", "dims": ["N", "M"], "box": ["32", "BM"],
                   "oob_fill": "nan", "when": "BM == 128 && M % 8 == 0" } },
    "steps": [
      { "kernel": "k1", "grid": ["SMS"], "block": ["128"], "smem": "SMEM_MAX / 2",
        "args": ["a_map", "acc_map", "W", "Y", "eps", "L2_BYTES / 1024"] },
      { "kernel": "k2", "grid": ["M"], "block": ["128"], "pdl": true, "args": ["acc", "Y"] } ] })");
}

std::string wrap(const Json& j) { return "/* ksearch\n" + j.dump(2) + "\n*/\n"; }

// The PlanError of parsing and validating j, or "" when it is a good plan.
std::string error_of(const Json& j) {
  try {
    validate_plan(parse_candidate(wrap(j), "cand.cu").plan, task());
  } catch (const PlanError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(json, part)                                                   \
  do {                                                                                 \
    const std::string e_ = error_of(json);                                             \
    EXPECT_NE(e_.find(part), std::string::npos) << "error: '" << e_ << "'";           \
  } while (0)

TEST(TensorMapPlan, ParsesEveryFieldAndValidates) {
  const Candidate c = parse_candidate(wrap(plan_json()), "cand.cu");
  ASSERT_EQ(c.plan.tensor_maps.size(), 2u);
  const TensorMapSpec& a = c.plan.tensor_maps[0].second;
  EXPECT_EQ(c.plan.tensor_maps[0].first, "a_map");
  EXPECT_EQ(a.buffer, "X");
  EXPECT_EQ(a.dims.size(), 2u);
  EXPECT_EQ(a.box[1].text(), "BM");
  EXPECT_EQ(a.swizzle, 128);
  EXPECT_EQ(a.l2_promotion, 256);
  EXPECT_FALSE(a.oob_nan);
  EXPECT_FALSE(a.dtype);
  const TensorMapSpec& acc = c.plan.tensor_maps[1].second;
  EXPECT_EQ(acc.dtype, DType::f32);
  EXPECT_TRUE(acc.oob_nan);
  EXPECT_EQ(acc.swizzle, 0);
  EXPECT_FALSE(a.when);
  ASSERT_TRUE(acc.when);
  EXPECT_EQ(acc.when->text(), "BM == 128 && M % 8 == 0");
  EXPECT_FALSE(std::get<KernelStep>(c.plan.steps[0].op).pdl);
  EXPECT_TRUE(std::get<KernelStep>(c.plan.steps[1].op).pdl);
  EXPECT_EQ(error_of(plan_json()), "");
}

TEST(TensorMapPlan, MalformedMapsAreNamedByTheirField) {
  Json j = plan_json();
  j["tensor_maps"]["a_map"]["swizzle"] = "96B";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.swizzle: expected one of \"none\", \"32B\", \"64B\", \"128B\"");
  j = plan_json();
  j["tensor_maps"]["a_map"]["box"] = Json::array({"BK"});
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.box: has 1 entries for 2 dims");
  j = plan_json();
  j["tensor_maps"]["a_map"]["dims"] = Json::array({"1", "1", "1", "1", "1", "1"});
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.dims: expected an array of 1 to 5 expressions");
  j = plan_json();
  j["tensor_maps"]["a_map"]["strides"] = Json::array({"K", "K"});
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.strides: has 2 entries; a map of 2 dims takes 1");
  j = plan_json();
  j["tensor_maps"]["a_map"]["colour"] = "red";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.colour: unknown key");
  j = plan_json();
  j["tensor_maps"]["a_map"]["buffer"] = "Z";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.buffer: 'Z' is not a buffer");
  j = plan_json();
  j["tensor_maps"]["a_map"]["dtype"] = "f32";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.dtype: 'X' is a task buffer, which has its own element type");
  j = plan_json();
  j["tensor_maps"]["acc_map"].erase("dtype");
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.acc_map.dtype: missing");
  j = plan_json();
  j["tensor_maps"]["a_map"]["box"][1] = "TILE";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.a_map.box[1]: unknown name 'TILE'");
  j = plan_json();
  j["tensor_maps"]["acc_map"]["when"] = "TILE > 0";
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.acc_map.when: unknown name 'TILE'");
  j = plan_json();
  j["tensor_maps"]["W"] = j["tensor_maps"]["a_map"];
  EXPECT_ERROR_HAS(j, "plan.tensor_maps.W: 'W' is already defined as a buffer");
  j = plan_json();
  j["steps"][0]["grid"][0] = "a_map";
  EXPECT_ERROR_HAS(j, "'a_map' is a tensor map, but 'a_map' is an integer expression");
  j = plan_json();
  j["steps"][1]["args"][0] = "a_map + 1";
  EXPECT_ERROR_HAS(j, "'a_map' is a tensor map inside the expression 'a_map + 1'");
}

TEST(DeviceFacts, AreNamesInEveryExpressionAndCannotBeRedefined) {
  const Candidate c = parse_candidate(wrap(plan_json()), "cand.cu");
  const Env env = make_env(c.plan, {{"M", 4}, {"K", 64}, {"N", 8}}, {{"BM", 64}, {"BK", 64}}, {78, 101376, 4194304});
  EXPECT_EQ(std::get<KernelStep>(c.plan.steps[0].op).grid[0].eval(env), 78);
  EXPECT_EQ(std::get<KernelStep>(c.plan.steps[0].op).smem->eval(env), 50688);
  Json j = plan_json();
  j["applies"] = "SMEM_MAX >= 200000";
  const Candidate big = parse_candidate(wrap(j), "cand.cu");
  EXPECT_TRUE(plan_applies(big.plan, {{"M", 4}, {"K", 64}, {"N", 8}}, {}, kNominalDevice));
  EXPECT_FALSE(plan_applies(big.plan, {{"M", 4}, {"K", 64}, {"N", 8}}, {}, {78, 101376, 4194304}))
      << "an sm_86's 99 KiB";
  j = plan_json();
  j["params"]["SMS"] = Json::array({132});
  EXPECT_ERROR_HAS(j, "plan.params.SMS: 'SMS' is already defined as a device fact");
  j = plan_json();
  j["let"] = Json::object({{"L2_BYTES", "4"}});
  EXPECT_ERROR_HAS(j, "already defined as a device fact");
  j = plan_json();
  j["let"] = Json::object({{"RING", "SMEM_MAX / (BM * BK * 2)"}});
  EXPECT_EQ(error_of(j), "");
  EXPECT_EQ(compile_defines(parse_candidate(wrap(j), "c.cu").plan, {{"BM", 64}, {"BK", 64}}).size(), 2u)
      << "a let of a device fact is not a macro: the compile does not know the device";
}

TEST(Pdl, TheFirstStepCannotOverlapWhatCameBeforeThePlan) {
  Json j = plan_json();
  j["steps"][0]["pdl"] = true;
  EXPECT_ERROR_HAS(j, "plan.steps[0].pdl: the first step has no step before it to overlap");
  j = plan_json();
  j["steps"][0]["pdl"] = "0";
  EXPECT_ERROR_HAS(j, "plan.steps[0].pdl: the first step has no step before it to overlap");
  j = plan_json();
  j["steps"][1]["pdl"] = 1;
  EXPECT_ERROR_HAS(j, "plan.steps[1].pdl: expected true, false or an expression (a string), got");
  j["steps"][1]["pdl"] = "NOPE == 1";
  EXPECT_ERROR_HAS(j, "plan.steps[1].pdl");
  EXPECT_ERROR_HAS(j, "NOPE");
  j["steps"][1]["pdl"] = false;
  EXPECT_EQ(error_of(j), "");
}

TEST(Pdl, AnExpressionDecidesPerVariant) {
  Json j = plan_json();
  j["steps"][1]["pdl"] = "M > 1";
  ASSERT_EQ(error_of(j), "");
  const Plan plan = parse_candidate(wrap(j), "c.cu").plan;
  const auto& step = std::get<KernelStep>(plan.steps[1].op);
  ASSERT_TRUE(step.pdl);
  EXPECT_EQ(step.pdl->eval(Env{{"M", 1}}), 0);
  EXPECT_EQ(step.pdl->eval(Env{{"M", 4}}), 1);
}

// resolve_tensor_map: every limit of cuTensorMapEncodeTiled, checked on the CPU with the
// argument named, before the driver could refuse it with a bare code.
class Resolve : public ::testing::Test {
 protected:
  TensorMapSpec spec(std::vector<std::string> dims, std::vector<std::string> box) {
    TensorMapSpec s;
    s.buffer = "X";
    for (auto& d : dims) s.dims.push_back(Expr::parse(d, "dims"));
    for (auto& b : box) s.box.push_back(Expr::parse(b, "box"));
    return s;
  }
  BoundBuffer buffer(size_t bytes, uintptr_t address = 0x10000) {
    return {reinterpret_cast<void*>(address), DType::bf16, bytes};
  }
  std::string error(const TensorMapSpec& s, const BoundBuffer& b) {
    try {
      resolve_tensor_map(s, b, env, "plan.steps[0].args[0] (a_map)");
    } catch (const PlanError& e) {
      return e.what();
    }
    return "";
  }
  Env env{{"M", 100}, {"K", 4096}, {"BM", 128}, {"BK", 64}};
};

TEST_F(Resolve, APackedMapGivesTheDriversArguments) {
  TensorMapSpec s = spec({"K", "M"}, {"BK", "BM"});
  s.swizzle = 128;
  const TensorMapArgs a = resolve_tensor_map(s, buffer(100 * 4096 * 2), env, "a_map");
  EXPECT_EQ(a.dims, (std::vector<uint64_t>{4096, 100}));
  EXPECT_EQ(a.stride_bytes, (std::vector<uint64_t>{8192}));
  EXPECT_EQ(a.box, (std::vector<uint32_t>{64, 128})) << "a box past M is allowed: TMA fills it";
  EXPECT_EQ(a.dtype, DType::bf16);
  s.dtype = DType::f32;
  s.box[0] = Expr::parse("32", "box");
  EXPECT_EQ(resolve_tensor_map(s, buffer(100 * 4096 * 4), env, "a_map").stride_bytes, (std::vector<uint64_t>{16384}));
}

TEST_F(Resolve, EveryLimitIsAnErrorNamingTheArgument) {
  const BoundBuffer whole = buffer(100 * 4096 * 2);
  TensorMapSpec s = spec({"K", "M"}, {"BK", "BM"});
  EXPECT_EQ(error(s, whole), "");
  EXPECT_NE(error(s, buffer(100 * 4096 * 2 - 2)).find("plan.steps[0].args[0] (a_map): the map spans 819200 bytes of 'X', which has 819198"),
            std::string::npos);
  EXPECT_NE(error(s, buffer(whole.bytes, 0x10008)).find("not 16-byte aligned"), std::string::npos);
  s.box[1] = Expr::parse("BM * 4", "box");
  EXPECT_NE(error(s, whole).find("box[1] = BM * 4 = 512 is outside 1..256"), std::string::npos);
  s = spec({"K", "M"}, {"4", "BM"});
  EXPECT_NE(error(s, whole).find("box[0] is 8 bytes; TMA copies rows of a multiple of 16 bytes"), std::string::npos);
  s = spec({"K", "M"}, {"BK", "BM"});
  s.swizzle = 64;
  EXPECT_NE(error(s, whole).find("box[0] is 128 bytes, more than the 64-byte swizzle span"), std::string::npos);
  s = spec({"K", "M"}, {"BK", "BM"});
  s.strides = {Expr::parse("K + 4", "strides")};
  EXPECT_NE(error(s, buffer(1 << 24)).find("the stride of dims[1] is 8200 bytes; it must be a multiple of 16"),
            std::string::npos);
  s.strides = {Expr::parse("K / 2", "strides")};
  EXPECT_NE(error(s, buffer(1 << 24)).find("is less than the 8192 bytes the dims inside it span"), std::string::npos);
  s = spec({"K - 4096", "M"}, {"BK", "BM"});
  EXPECT_NE(error(s, whole).find("dims[0] = K - 4096 = 0 is outside 1..4294967296"), std::string::npos);
  // 2^32 rows of 2^33 bytes: 2^65 bytes, which must not wrap around 64 bits into "fits".
  s = spec({"4294967296", "4294967296"}, {"BK", "1"});
  EXPECT_NE(error(s, whole).find("the map spans more than 2^64 bytes of 'X'"), std::string::npos) << error(s, whole);
  s = spec({"8", "4294967296", "4294967296"}, {"8", "1", "1"});
  s.strides = {Expr::parse("8", "strides"), Expr::parse("34359738368", "strides")};  // 2^35 elements: 2^36 bytes
  EXPECT_NE(error(s, whole).find("the map spans more than 2^64 bytes"), std::string::npos) << error(s, whole);
  s = spec({"K", "M", "K / 0"}, {"BK", "BM", "1"});
  EXPECT_THROW(error(s, whole), ExprError) << "a division by zero is the caller's launch_error too";
}

}  // namespace
}  // namespace ks
