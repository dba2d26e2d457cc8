#pragma once
// A fresh folder per test (named after the process and the test), removed afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ks::test {

struct TempDir {
  std::filesystem::path dir;
  explicit TempDir(const std::string& prefix = "ksearch")
      : dir(std::filesystem::temp_directory_path() /
            (prefix + "_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~TempDir() { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace ks::test
