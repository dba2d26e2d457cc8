// Lists an archive's rows by what identifies them across archives, one a line, tab-separated, for
// tests in shell (tests/slurm/) to compare archives without sqlite3: every row of an archive
// merged into another must be there, whatever ids it got.
//   archive_rows PATH
//     run        UID TASK DEVICE STATE EVALUATIONS   (EVALUATIONS: the run's on the GPU)
//     candidate  KEY TASK ORIGIN RUN_UID
//     evaluation KEY SHAPE DEVICE STATUS RUN_UID
// Opens the archive read-only.
#include <iostream>
#include <map>
#include <string>

#include "db/archive.h"

using namespace ks;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: archive_rows PATH\n";
    return 2;
  }
  try {
    Archive a(argv[1], Archive::Mode::read);
    std::map<int64_t, std::string> run_uid, key;
    auto uid = [&](const std::optional<int64_t>& id) { return id ? run_uid.at(*id) : std::string("-"); };
    for (const RunRecord& r : a.runs()) {
      run_uid[r.id] = r.uid;
      std::cout << "run\t" << r.uid << '\t' << r.task << '\t' << r.device << '\t' << r.state << '\t'
                << a.run_evaluations(r.id) << '\n';
    }
    for (const CandidateRecord& c : a.candidates("")) {
      key[c.id] = c.key;
      std::cout << "candidate\t" << c.key << '\t' << c.task << '\t' << c.origin << '\t' << uid(c.run_id) << '\n';
    }
    for (const EvaluationRecord& e : a.evaluations("", ""))
      std::cout << "evaluation\t" << key.at(e.candidate_id) << '\t' << e.shape << '\t' << e.device << '\t'
                << status_name(e.status) << '\t' << uid(e.run_id) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "archive_rows: " << e.what() << '\n';
    return 1;
  }
}
