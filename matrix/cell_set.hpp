#pragma once
// Which cells a run recorded, as one compact value: the cells' ids, sorted,
// as LEB128 varints of the gaps between them (a nightly run's 6,000 cells
// take about 6 KB). Identical sets share one row (`cell_sets`, by digest),
// so a year of nightly runs over the same plan stores its plan once.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xcompat {

// `ids` need not be sorted or unique.
std::string encode_cell_set(std::vector<int64_t> ids);
// Throws Error on bytes that encode_cell_set() cannot have written.
std::vector<int64_t> decode_cell_set(std::string_view bytes);
// The first 16 bytes of SHA-256: the content address of a text, an outcome
// or a cell set.
std::string digest16(std::string_view data);

}  // namespace xcompat
