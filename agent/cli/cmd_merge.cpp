// ksearch merge: brings archives from runs on other hosts into this one, deduplicated (runs by
// their uid, sources by hash, candidates by source and params, evaluations by candidate, shape
// and GPU model), each in one transaction. Sources are only read (one snapshot each, read-only).
#include <iostream>

#include "agent/cli/commands.h"
#include "db/archive.h"

namespace ks::cli {

Action add_merge_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Merge other archives into this one (--db), without duplicates");
  auto db = std::make_shared<std::string>();
  auto sources = std::make_shared<std::vector<std::string>>();
  cmd->add_option("ARCHIVE", *sources, "Archives to merge in, e.g. from other hosts")->required();
  add_db_option(cmd, *db);
  return [db, sources] {
    // Every source is checked (an archive, readable) before the target is opened: a merge that
    // cannot happen creates no target.
    for (const std::string& path : *sources) Archive(path, Archive::Mode::read);
    Archive target(*db);
    for (const std::string& path : *sources) {
      const MergeStats st = target.merge_from(path);
      std::cout << "merged " << path << " into " << *db << ": " << st.runs << " runs, " << st.sources
                << " sources, " << st.candidates << " candidates, " << st.evaluations << " evaluations, "
                << st.llm_calls << " LLM calls, " << st.audits << " audits new\n";
    }
    return 0;
  };
}

}  // namespace ks::cli
