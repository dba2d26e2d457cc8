// Issue 18, item 8: messages and flags. Number limits read as a user writes them (never the
// largest double in full); NaN and infinities are refused by every number option; an unknown
// command is named; the worker's start failure has a verb; --gpu-model (a GPU model's name) and
// --device (an index) are named apart.
#include <gtest/gtest.h>

#include "evaluator/device.h"
#include "run_ksearch.h"

namespace ks {
namespace {

using cli_test::ksearch;

TEST(CliMessages, AnUnknownCommandIsNamed) {
  auto r = ksearch("frobnicate --task x");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown command 'frobnicate'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compile"), std::string::npos) << r.out;  // the commands are listed
  EXPECT_EQ(r.out.find("A subcommand is required"), std::string::npos) << r.out;
}

TEST(CliMessages, NanAndInfinityAreRefusedByEveryNumberOption) {
  for (const std::string cmd : {"run --task rmsnorm_linear --minutes nan", "run --task rmsnorm_linear --watchdog NaN",
                                "run --task rmsnorm_linear --min-ms inf", "run --task rmsnorm_linear --llm-temperature nan",
                                "tasks --bandwidth-tbs nan", "tasks --bandwidth-tbs -inf", "eval x.cu --watchdog nan",
                                "compile x.cu --compile-timeout nan"}) {
    auto r = ksearch(cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("finite"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(CliMessages, LimitsAreWrittenAsAUserWouldWriteThem) {
  for (const std::string cmd : {"run --task rmsnorm_linear --minutes -1", "run --task rmsnorm_linear --batch 0",
                                "best --top 0", "tasks --bandwidth-tbs 0", "eval x.cu --device -1"}) {
    auto r = ksearch(cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_EQ(r.out.find("179769"), std::string::npos) << cmd << ": " << r.out;
    EXPECT_EQ(r.out.find("0.000000"), std::string::npos) << cmd << ": " << r.out;
    EXPECT_LT(r.out.size(), 200u) << cmd << ": " << r.out;
  }
  auto batch = ksearch("run --task rmsnorm_linear --batch 0");
  EXPECT_NE(batch.out.find("from 1 to 256, got 0"), std::string::npos) << batch.out;
  auto minutes = ksearch("run --task rmsnorm_linear --minutes -1");
  EXPECT_NE(minutes.out.find("greater than 0, got -1"), std::string::npos) << minutes.out;
}

TEST(CliMessages, GpuModelAndDeviceIndexAreNamedApart) {
  auto help = ksearch("best --help");
  EXPECT_NE(help.out.find("--gpu-model"), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find("--device"), std::string::npos) << help.out;  // the old spelling is hidden
  EXPECT_NE(ksearch("report --help").out.find("--gpu-model"), std::string::npos);
  EXPECT_NE(ksearch("export --help").out.find("--gpu-model"), std::string::npos);
  EXPECT_NE(ksearch("eval --help").out.find("CUDA device index"), std::string::npos);
  // The old spelling still parses (it fails later, on the missing archive, not on the flag).
  auto old = ksearch("best --device 'Fake GPU' --db /nonexistent/a.db");
  EXPECT_EQ(old.code, 2) << old.out;
  EXPECT_NE(old.out.find("no archive"), std::string::npos) << old.out;
}

TEST(CliMessages, TheWorkersStartFailureHasAVerb) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present: this test is for machines without one";
  auto r = ksearch("eval " + std::string(KSEARCH_SOURCE_DIR) + "/seeds/rmsnorm_linear/baseline.cu");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(") could not start: no CUDA device available"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ks
