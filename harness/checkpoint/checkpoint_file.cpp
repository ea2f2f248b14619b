#include "harness/checkpoint/checkpoint_file.hpp"

#include <fstream>
#include <iterator>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/pt_writer.hpp"
#include "harness/checkpoint/safetensors.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json parse_record(const std::string& text, const fs::path& file) {
  if (text.empty()) return json::object();
  try {
    json j = json::parse(text);
    if (j.is_object()) return j;
  } catch (const json::exception&) {
  }
  throw CheckpointError(file, "its xcompat record is not a JSON object");
}

// A stamp kept beside a file that must stay byte-identical (`xcompat stamp
// --sidecar`): <file>.xcompat.json. The file's own record wins.
json with_sidecar(json record, const fs::path& file) {
  if (!record.empty()) return record;
  fs::path sidecar = file;
  sidecar += ".xcompat.json";
  std::error_code ec;
  if (!fs::is_regular_file(sidecar, ec)) return record;
  if (fs::file_size(sidecar, ec) > (1u << 20)) throw CheckpointError(sidecar, "a stamp over 1 MiB is not a stamp");
  std::ifstream in(sidecar, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_record(text, sidecar);
}

class PtFile final : public CheckpointReader {
 public:
  explicit PtFile(const fs::path& f) : path_(f), r_(f) {}
  const std::vector<TensorInfo>& tensors() const override { return r_.tensors(); }
  TensorData read(const std::string& name) override { return r_.read(name); }
  json xcompat_record() const override { return with_sidecar(parse_record(r_.xcompat_record(), path_), path_); }
  const char* format() const override { return "pt"; }

 private:
  fs::path path_;
  PtReader r_;
};

class SafetensorsFile final : public CheckpointReader {
 public:
  explicit SafetensorsFile(const fs::path& f) : path_(f), r_(f) {}
  const std::vector<TensorInfo>& tensors() const override { return r_.tensors(); }
  TensorData read(const std::string& name) override { return r_.read(name); }
  json xcompat_record() const override {
    auto it = r_.metadata().find("xcompat");
    return with_sidecar(it == r_.metadata().end() ? json::object() : parse_record(it->second, path_), path_);
  }
  const char* format() const override { return "safetensors"; }

 private:
  fs::path path_;
  SafetensorsReader r_;
};

class PtOut final : public CheckpointWriter {
 public:
  PtOut(const fs::path& f, const std::vector<TensorInfo>& t, const json& record)
      : w_(f, t, record.empty() ? "" : record.dump()) {}
  void write(const TensorInfo& i, const TensorData& d) override { w_.write(i, d); }
  void commit() override { w_.commit(); }

 private:
  PtWriter w_;
};

class SafetensorsOut final : public CheckpointWriter {
 public:
  SafetensorsOut(const fs::path& f, const std::vector<TensorInfo>& t, const json& record)
      : w_(f, t, record.empty() ? std::map<std::string, std::string>{}
                                : std::map<std::string, std::string>{{"xcompat", record.dump()}}) {}
  void write(const TensorInfo& i, const TensorData& d) override { w_.write(i, d); }
  void commit() override { w_.commit(); }

 private:
  SafetensorsWriter w_;
};

}  // namespace

std::unique_ptr<CheckpointReader> open_checkpoint(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CheckpointError(file, "cannot open for reading");
  char magic[2] = {0, 0};
  in.read(magic, 2);
  if (magic[0] == 'P' && magic[1] == 'K') return std::make_unique<PtFile>(file);
  if (static_cast<unsigned char>(magic[0]) == 0x80)
    throw CheckpointError(file, "legacy torch.save format (torch < 1.6) is not supported; re-save it with a current torch");
  return std::make_unique<SafetensorsFile>(file);
}

std::unique_ptr<CheckpointWriter> create_checkpoint(const fs::path& file, const std::vector<TensorInfo>& tensors,
                                                    const json& record) {
  const std::string ext = file.extension().string();
  if (ext == ".safetensors") return std::make_unique<SafetensorsOut>(file, tensors, record);
  if (ext == ".pt" || ext == ".pth" || ext == ".bin") return std::make_unique<PtOut>(file, tensors, record);
  throw CheckpointError(file, "write .safetensors or .pt (by the extension), not '" + ext + "'");
}

}  // namespace xcompat
