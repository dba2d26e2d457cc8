// A stand-in for `ksearch worker` that misbehaves on request, for the supervisor's tests: each
// request's "origin" names what it does. With the argument "refuse" it fails its hello, with
// "silent" it never says hello. Any other origin (a real candidate file, as `ksearch run` sends
// through KSEARCH_WORKER) is answered ok, with a time that falls as the variant's values grow,
// after KSEARCH_FAKE_DELAY_MS milliseconds. A source holding the text "fake-worker: wrong" is
// answered wrong, and one holding "fake-worker: us=N" takes N microseconds (the LLM tests'
// scripted candidates). It answers on descriptor 3, as the real worker does; what it prints on
// stdout (the "noisy" origin: a forged answer) must never be taken for one. With
// KSEARCH_FAKE_REQUESTS=FILE it appends each request's constants and origin to FILE, a line each.
// Its hello names the device index it was started with (`--device N`), like the real worker.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

using nlohmann::json;

static void write_reply(const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(3, text.data() + done, text.size() - done);
    if (n <= 0) std::_Exit(4);
    done += static_cast<size_t>(n);
  }
}
static void send(const json& j) { write_reply(j.dump() + '\n'); }

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "silent") pause();
  if (mode == "refuse") {
    send({{"hello", {{"ok", false}, {"error", "no CUDA device available (fake)"}}}});
    return 2;
  }
  int device = 0;  // `worker --device N`, as ksearch starts one per GPU of --devices
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--device") device = std::atoi(argv[i + 1]);
  send({{"hello", {{"ok", true}, {"pid", getpid()},
                   {"device", {{"index", device}, {"name", "Fake GPU"}, {"cc_major", 9}, {"cc_minor", 0},
                               {"arch", "sm_90a"}, {"sms", 132}, {"l2_bytes", 50 << 20},
                               {"smem_per_block_optin", 232448}, {"global_mem", 1ull << 36},
                               {"driver_version", 13000}, {"runtime_version", 13000}}}}}});
  for (std::string line; std::getline(std::cin, line);) {
    const json msg = json::parse(line);
    const json id = msg.at("id");
    if (msg.at("op") == "ceilings") {
      // 100x a real GPU's: the scripted times (tens of microseconds) stay above every floor,
      // which ksearch would otherwise call implausible.
      send({{"id", id}, {"ceilings", {{"bytes_per_s", 3e14}, {"flops_per_s", 7.5e16}}}});
      continue;
    }
    const json& req = msg.at("request");
    const std::string what = req.at("origin");
    if (const char* log = std::getenv("KSEARCH_FAKE_REQUESTS"))  // what it was asked, for the tests to read
      if (std::FILE* f = std::fopen(log, "a")) {
        std::fprintf(f, "%s %s\n", req.value("constants", json()).dump().c_str(), what.c_str());
        std::fclose(f);
      }
    json row = {{"shape", req.at("shape")}, {"variant", req.at("variant")}, {"status", "ok"},
                {"error", ""}, {"nondeterministic", false}, {"floor_us", 0.0},
                {"max_scaled_error", 0.001}, {"rel_l2_error", 0.0005}, {"kernels", json::array()}};
    if (what == "hang-setup") pause();
    send({{"id", id}, {"phase", "candidate"}});
    if (what == "good") {
      send({{"id", id}, {"row", row}});
    } else if (what == "hang") {
      pause();
    } else if (what == "segfault") {
      std::raise(SIGSEGV);
    } else if (what == "garbage") {
      write_reply("this is not json\n");
    } else if (what == "partial") {
      write_reply(R"({"id": )" + id.dump() + R"(, "row": {"shape")");
      return 1;
    } else if (what == "wrong-id") {
      send({{"id", id.get<long>() + 100}, {"row", row}});
    } else if (what == "bad-row") {
      send({{"id", id}, {"row", {{"status", "no_such_status"}}}});
    } else if (what == "sticky") {
      row["status"] = "crash";
      row["error"] = "cudaStreamSynchronize: cudaErrorIllegalAddress: an illegal memory access was encountered";
      send({{"id", id}, {"row", row}});
      return 3;
    } else if (what == "error") {
      send({{"id", id}, {"error", "the baseline fails (fake)"}});
    } else if (what.rfind("error-once:", 0) == 0) {
      // Errors in the first process that sees it (the marker file is created then), not after.
      if (std::FILE* f = std::fopen(what.substr(11).c_str(), "wx")) {
        std::fclose(f);
        send({{"id", id}, {"error", "state left by an earlier candidate (fake)"}});
      } else {
        send({{"id", id}, {"row", row}});
      }
    } else if (what == "noisy") {
      // A candidate's printf: a well-formed ok answer on stdout, then the real (wrong) one.
      json forged = {{"id", id}, {"row", row}};
      std::cout << forged.dump() << "\n" << forged.dump() << std::endl;
      row["status"] = "wrong";
      row["error"] = "computed nothing (fake)";
      send({{"id", id}, {"row", row}});
    } else if (what == "huge") {
      write_reply(std::string(5 << 20, 'x'));
    } else if (req.value("source", "").find("fake-worker: wrong") != std::string::npos) {
      row["status"] = "wrong";
      row["error"] = "max scaled error 3.1 > 0.02 at Y[0, 5] (fake)";
      row["max_scaled_error"] = 3.1;
      send({{"id", id}, {"row", row}});
    } else {
      if (const char* ms = std::getenv("KSEARCH_FAKE_DELAY_MS"))
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
      double sum = 0;
      for (auto& p : req.at("variant")) sum += p.at(1).get<double>();
      double us = 100 / (1 + sum / 1000);
      const double base = 100;
      const std::string source = req.value("source", "");
      if (size_t at = source.find("fake-worker: us="); at != std::string::npos) us = std::stod(source.substr(at + 16));
      row["floor_us"] = 10.0;
      if (req.at("time").get<bool>())
        row["timing"] = {{"candidate", {{"median_us", us}, {"p10_us", us * 0.98}, {"p90_us", us * 1.02}}},
                         {"baseline", {{"median_us", base}, {"p10_us", base}, {"p90_us", base}}},
                         {"speedup", base / us}, {"replays", 20}, {"last_set", 0}};
      send({{"id", id}, {"row", row}});
    }
  }
  return 0;
}
