#pragma once
// The safetensors format (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON header | tensor bytes
// The header maps each tensor name to {dtype, shape, data_offsets} (offsets
// relative to the end of the header) plus an optional "__metadata__" object of
// string -> string. Reading validates everything the reference implementation
// validates, so a file accepted here is one the Python library accepts too.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// Reads every tensor of a .safetensors file. The header must be a JSON object
// of at most 100 MB that fits the file; every dtype must be one DType knows;
// each tensor's byte range must hold exactly numel * dtype size bytes; the
// ranges must tile the data section exactly (no overlap, gap or trailing
// bytes). Throws CheckpointError naming the file and the first problem found.
TensorMap read_safetensors(const std::filesystem::path& file);

// The "__metadata__" entry of a .safetensors file (empty when absent). The
// whole header is validated as by read_safetensors, but no tensor data is
// read. Throws CheckpointError on any problem.
std::map<std::string, std::string> read_safetensors_metadata(const std::filesystem::path& file);

// Writes tensors (and metadata as "__metadata__", omitted when empty) to file,
// atomically: the bytes go to a temporary file in the same directory that is
// renamed over file only once complete, so readers never see a partial file.
// Throws CheckpointError, leaving any previous file untouched, when a tensor's
// byte count disagrees with its shape and dtype, a name is "__metadata__" or
// not UTF-8, or the file system refuses.
void write_safetensors(const std::filesystem::path& file, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// One tensor at a time, for files larger than memory: the header is read and
// validated (as read_safetensors does) up front, each tensor's bytes when
// asked for.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::filesystem::path& file);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::vector<TensorInfo>& tensors() const;  // by name
  const std::map<std::string, std::string>& metadata() const;
  TensorData read(const std::string& name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes tensors one at a time, in the declared order, after the header:
// into a temporary file beside `file` that commit() renames into place (a
// writer destroyed before commit removes it: no partial file is ever seen).
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& file, const std::vector<TensorInfo>& tensors,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void write(const TensorInfo& info, const TensorData& data);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xcompat
