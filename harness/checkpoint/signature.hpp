#pragma once
// What a checkpoint file is, told by its first bytes, never by one byte and
// never by its name: open_checkpoint() picks its reader with this, and the
// .pt reader names a legacy torch.save file with it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace xcompat {

enum class Signature {
  TorchZip,     // "PK\x03\x04": a zip's first local header, as torch.save (>= 1.6) writes
  Safetensors,  // u64 LE header length N, 2 <= N <= min(100 MB, size - 8), then '{'
  LegacyTorch,  // a pickle (PROTO, optional FRAME) opening with LONG1 0x1950a86a20f9469cfc6c,
                // the magic number of torch.save's pre-1.6 format
  Unknown,
};

// `head`: the file's first bytes (16 are enough); `size`: the whole file's.
Signature sniff(std::span<const std::byte> head, uint64_t size);

// Why `head` is none of the above, for an error message: its first bytes in
// hex and what a safetensors header length would have been.
std::string describe_head(std::span<const std::byte> head, uint64_t size);

}  // namespace xcompat
