#pragma once
// On-disk cache of NVRTC results, keyed by the full text of everything a compile depends on.
// One file per entry, named by a 64-bit hash of the key; the file holds the key itself, so a hash
// collision reads as a miss, never as another program's cubin. Safe for several threads and
// processes sharing one folder: entries are written to a temporary file and renamed into place.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

struct CachedCompile {
  std::string log;  // NVRTC's log of the original compile (ptxas's report included)
  std::vector<char> cubin;
};

// 64-bit FNV-1a; pass a previous result as `state` to hash several pieces as one.
uint64_t fnv1a64(std::string_view bytes, uint64_t state = 0xcbf29ce484222325ull);
// 16 lowercase hex digits.
std::string hex64(uint64_t value);

// Creates the folder (and its parents). Throws ks::Error naming the folder and KSEARCH_CACHE_DIR.
void create_cache_dir(const std::filesystem::path& dir);

// The file that holds (or would hold) the entry for `key`.
std::filesystem::path cache_entry_path(const std::filesystem::path& dir, std::string_view key);

// nullopt on a miss: no file, an unreadable, truncated or corrupt one, or one written for
// another key.
std::optional<CachedCompile> load_cached(const std::filesystem::path& dir, std::string_view key);

// Writes the entry atomically, replacing any file already there. Throws ks::Error naming the
// file when it cannot be written.
void store_cached(const std::filesystem::path& dir, std::string_view key,
                  const CachedCompile& entry);

}  // namespace ks
