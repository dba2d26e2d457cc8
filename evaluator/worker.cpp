#include "evaluator/worker.h"

#include <unistd.h>

#include <iostream>
#include <memory>

#include "evaluator/cuda_check.h"
#include "evaluator/engine.h"
#include "evaluator/row_json.h"

namespace ks {

using nlohmann::json;

static void send(std::ostream& out, const json& j) { out << j.dump() << '\n' << std::flush; }

int run_worker(int device, const Compiler& compiler, std::istream& in, std::ostream& out) {
  std::unique_ptr<EvalEngine> engine;
  try {
    engine = std::make_unique<EvalEngine>(device, compiler);
  } catch (const Error& e) {
    send(out, {{"hello", {{"ok", false}, {"error", e.what()}}}});
    return 2;
  }
  send(out, {{"hello", {{"ok", true}, {"device", to_json(engine->device())}, {"pid", getpid()}}}});

  for (std::string line; std::getline(in, line);) {
    json id = nullptr;
    try {
      const json msg = json::parse(line);
      id = msg.at("id");
      const std::string op = msg.at("op").get<std::string>();
      if (op == "ceilings") {
        send(out, {{"id", id}, {"ceilings", to_json(engine->ceilings())}});
      } else if (op == "run") {
        const RowRequest req = request_from_json(msg.at("request"));
        EvalRow row = engine->run(req, [&] { send(out, {{"id", id}, {"phase", "candidate"}}); });
        send(out, {{"id", id}, {"row", to_json(row)}});
      } else {
        send(out, {{"id", id}, {"error", "unknown op '" + op + "'"}});
      }
    } catch (const CudaError& e) {
      if (!e.sticky()) {
        send(out, {{"id", id}, {"error", e.what()}});
        continue;
      }
      // The context is lost: report the crash for this request and end; the supervisor restarts.
      EvalRow row;
      try {
        const json msg = json::parse(line);
        const RowRequest req = request_from_json(msg.at("request"));
        row.shape = req.shape;
        row.variant = req.variant;
      } catch (...) {
      }
      row.status = Status::crash;
      row.error = e.what();
      send(out, {{"id", id}, {"row", to_json(row)}});
      return 3;
    } catch (const std::exception& e) {  // ks::Error, a malformed line: this request only
      send(out, {{"id", id}, {"error", e.what()}});
    }
  }
  return 0;
}

}  // namespace ks
