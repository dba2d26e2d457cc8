// measure_peers (ksearch bench --peers) against stand-in Pythons: a shell script that reads the
// requests and answers the way scripts/torch_peers.py does, or refuses; so the protocol, the
// per-shape errors and every whole-run failure are checked without torch or a GPU. The real script
// runs on the GPU machine.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/cli/peers.h"
#include "base/error.h"
#include "unit/temp_dir.h"

namespace ks::cli {
namespace {

// A stand-in for python: ignores the script argument, runs `body` with the requests on stdin.
std::string fake_python(test::TempDir& t, const std::string& body) {
  const std::string path = t.file("python");
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  chmod(path.c_str(), 0755);
  return path;
}

std::string error_of(const std::string& python, const std::vector<PeerKey>& shapes) {
  try {
    measure_peers(python, shapes, 0, 0.25);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const std::vector<PeerKey> kShapes = {{"gemm", "M=128,K=4096,N=4096"}, {"gemm", "M=512,K=4096,N=4096"},
                                      {"rmsnorm_linear", "M=1,K=4096,N=4096"}};

TEST(Peers, EachShapeGetsItsTimesOrItsError) {
  test::TempDir t("peers");
  // Answers each request as it comes: the first with times, the second with an error; then it
  // ends without answering the third.
  const std::string python = fake_python(t, R"(read a; echo "$a" | sed 's/}$/, "eager_us": 20.5, "compile_us": 17.25}/'
read b; echo "$b" | sed 's/}$/, "error": "RuntimeError: out of memory"}/'
echo "progress goes to stderr" >&2)");
  const auto peers = measure_peers(python, kShapes, 0, 0.25);
  ASSERT_EQ(peers.size(), 3u);
  const PeerTimes& a = peers.at(kShapes[0]);
  EXPECT_EQ(a.eager_us, 20.5);
  EXPECT_EQ(a.compile_us, 17.25);
  EXPECT_EQ(a.error, "");
  const PeerTimes& b = peers.at(kShapes[1]);
  EXPECT_FALSE(b.eager_us);
  EXPECT_EQ(b.error, "RuntimeError: out of memory");
  EXPECT_EQ(peers.at(kShapes[2]).error, "the peers' script gave no time for this shape");
}

TEST(Peers, EachRequestCarriesTheWarmUpKsearchTimesWith) {
  test::TempDir t("peers");
  // Keeps the requests it reads, and answers each.
  const std::string requests = t.file("requests");
  const std::string python = fake_python(t, "while read r; do echo \"$r\" >> " + requests +
                                                "; echo \"$r\" | sed 's/}$/, \"eager_us\": 1, \"compile_us\": 1}/'; done");
  measure_peers(python, kShapes, 0, 2.0);
  std::ifstream in(requests);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("task"), kShapes[size_t(n)].first);
    EXPECT_EQ(j.at("shape"), kShapes[size_t(n)].second);
    EXPECT_EQ(j.at("warmup_s"), 2.0) << line;
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(Peers, AWholeRunThatCannotBeTimedIsOneClearLine) {
  test::TempDir t("peers");
  EXPECT_NE(error_of(fake_python(t, R"(echo '{"error": "ModuleNotFoundError: No module named torch"}'; exit 3)"), kShapes)
                .find("the peers cannot be timed here: ModuleNotFoundError: No module named torch"),
            std::string::npos);
  EXPECT_NE(error_of(t.file("no-such-python"), kShapes).find("cannot run '" + t.file("no-such-python") + "'"),
            std::string::npos);
  EXPECT_NE(error_of(fake_python(t, "exit 5"), kShapes).find("failed (exit 5"), std::string::npos);
  EXPECT_NE(error_of(fake_python(t, "echo 'Traceback (most recent call last):'"), kShapes).find("not its protocol"),
            std::string::npos);
  EXPECT_NE(error_of(fake_python(t, R"(echo '{"task": "gemm", "shape": "M=1", "eager_us": -3}')"), kShapes)
                .find("'eager_us' is not a positive number"),
            std::string::npos);
}

// The real script without torch (CI's machine): it must say so on its protocol, not crash.
TEST(Peers, TheRealScriptWithoutTorchSaysSo) {
  if (std::system("python3 -c 'import torch' > /dev/null 2>&1") == 0) GTEST_SKIP() << "torch is installed here";
  if (std::system("python3 -c '' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no python3 here";
  const std::string e = error_of("python3", kShapes);
  EXPECT_NE(e.find("the peers cannot be timed here: ModuleNotFoundError"), std::string::npos) << e;
}

}  // namespace
}  // namespace ks::cli
