#pragma once
// Where ksearch finds its own files (seeds/, tasks/ plans, the device helpers) at run time.
#include <filesystem>

namespace ks {

// KSEARCH_ROOT if set; else the first folder holding seeds/include/ks walking up from the
// executable, then from the working directory; else the source folder it was built from.
// Throws ks::Error naming KSEARCH_ROOT when none is found.
const std::filesystem::path& project_root();

}  // namespace ks
