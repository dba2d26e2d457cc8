// Writes to an archive from its own process, for the archive's tests of several writers and of
// a writer killed mid-transaction:
//   archive_writer PATH write N TAG   adds N candidates with one evaluation each, one transaction
//                                     per write, as the search does; prints "done"
//   archive_writer PATH pace N TAG    as write, resting 5 ms after each row: a writer that keeps
//                                     committing while a reader test runs, without the archive
//                                     growing faster than the reads can follow
//   archive_writer PATH hold N TAG    opens one transaction, adds N candidates, prints
//                                     "in transaction" and waits to be killed
#include <unistd.h>

#include <iostream>
#include <string>

#include "db/archive.h"

using namespace ks;

static void add(Archive& a, const std::string& tag, int i, bool with_evaluation) {
  SourceRecord src{0, "hash-" + tag, "rmsnorm_linear", "writer", "/* ksearch */ // " + tag, false};
  CandidateRecord c;
  c.key = src.hash + ":" + std::to_string(i);
  c.task = src.task;
  c.params = "I=" + std::to_string(i);
  c.origin = "seed";
  c.label = tag;
  c.created_at = unix_now();
  const int64_t id = a.add_candidate(src, c);
  if (!with_evaluation) return;
  EvaluationRecord e;
  e.candidate_id = id;
  e.device = "Fake GPU";
  e.shape = "M=1,K=64,N=64";
  e.status = Status::ok;
  e.speedup = 1.0 + i;
  e.created_at = unix_now();
  a.add_evaluation(e);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: archive_writer PATH write|pace|hold N TAG\n";
    return 2;
  }
  const std::string path = argv[1], mode = argv[2], tag = argv[4];
  const int n = std::stoi(argv[3]);
  try {
    Archive a(path);
    if (mode == "write" || mode == "pace") {
      for (int i = 0; i < n; ++i) {
        add(a, tag, i, true);
        if (mode == "pace") usleep(5000);
      }
      std::cout << "done" << std::endl;
      return 0;
    }
    // Raw inserts inside one open transaction (add_candidate would commit its own).
    sql::Transaction tx(a.connection());
    sql::Statement src(a.connection(), "INSERT INTO sources (hash, task, name, text, uses_helpers) "
                                       "VALUES (?, 'rmsnorm_linear', 'held', 'held', 0)");
    src.bind_all("held-" + tag);
    src.run();
    const int64_t source_id = a.connection().last_insert_id();
    for (int i = 0; i < n; ++i) {
      sql::Statement c(a.connection(), "INSERT INTO candidates (key, source_id, task, params, origin, "
                                       "parents, generation, label, created_at) "
                                       "VALUES (?, ?, 'rmsnorm_linear', '', 'seed', '[]', 0, ?, 0)");
      c.bind_all("held-" + tag + ":" + std::to_string(i), source_id, tag);
      c.run();
    }
    std::cout << "in transaction" << std::endl;
    pause();
  } catch (const std::exception& e) {
    std::cerr << "archive_writer: " << e.what() << '\n';
    return 1;
  }
}
