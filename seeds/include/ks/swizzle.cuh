#pragma once
// Shared-memory tiles of 128-byte rows (64 bf16) with the 128-byte XOR swizzle: 16-byte chunk c
// of row r is stored at chunk c ^ (r % 8). Eight rows read at one chunk column (ldmatrix) hit
// eight distinct bank groups, and it is the layout that wgmma's 128-byte-swizzle descriptors read
// (ks/wgmma.cuh; the tile then starts 1024-byte aligned).

namespace ks {

// Byte offset of 16-byte chunk `chunk` (0..7) of row `row` in a swizzled tile of 128-byte rows.
__device__ __forceinline__ int swizzle128(int row, int chunk) {
  return row * 128 + ((chunk ^ (row & 7)) << 4);
}

}  // namespace ks
