#include "harness/checkpoint/checkpoint_file.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <span>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/pt_writer.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "harness/checkpoint/signature.hpp"

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
  const PtNode* tree() const override { return &r_.root(); }

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
  PtOut(const fs::path& f, const PtNode& tree, const std::vector<TensorInfo>& t, const json& record)
      : w_(f, tree, t, record.empty() ? "" : record.dump()) {}
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

// By the first bytes (signature.hpp), never by one byte alone: a safetensors
// header of 128 + 256k bytes starts with 0x80 too, like a pickle. The
// extension only helps word the error.
std::unique_ptr<CheckpointReader> open_checkpoint(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || !fs::is_regular_file(file, ec)) throw CheckpointError(file, "cannot open for reading (not a readable file)");
  std::array<char, 32> head{};
  in.read(head.data(), head.size());
  const auto bytes = std::as_bytes(std::span(head.data(), static_cast<std::size_t>(in.gcount())));
  const uint64_t size = fs::file_size(file, ec);
  switch (sniff(bytes, ec ? 0 : size)) {
    case Signature::TorchZip: return std::make_unique<PtFile>(file);
    case Signature::Safetensors: return std::make_unique<SafetensorsFile>(file);
    case Signature::LegacyTorch:
      throw CheckpointError(file, "legacy torch.save format (torch < 1.6) is not supported; re-save it with a current torch");
    case Signature::Unknown: break;
  }
  const std::string ext = file.extension().string();
  const std::string hint = ext == ".safetensors"                                  ? "its name says safetensors, but "
                           : ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt" ? "its name says torch.save, but "
                                                                                  : "";
  throw CheckpointError(file, "neither a torch.save zip nor a safetensors file: " + hint + describe_head(bytes, size) +
                                  " (a torch.save zip starts with PK\\x03\\x04, a safetensors file with its header length "
                                  "and '{')");
}

std::unique_ptr<CheckpointWriter> create_checkpoint(const fs::path& file, const std::vector<TensorInfo>& tensors,
                                                    const json& record, const PtNode* tree) {
  const std::string ext = file.extension().string();
  if (ext == ".safetensors") return std::make_unique<SafetensorsOut>(file, tensors, record);
  if (ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt")
    return tree ? std::make_unique<PtOut>(file, *tree, tensors, record) : std::make_unique<PtOut>(file, tensors, record);
  throw CheckpointError(file, "write .safetensors, or .pt / .pth / .bin / .ckpt (by the extension), not '" + ext + "'");
}

}  // namespace xcompat
