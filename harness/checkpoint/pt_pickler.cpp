#include "harness/checkpoint/pt_pickler.hpp"

#include <bit>
#include <cstdint>
#include <map>

#include "harness/checkpoint/checkpoint_error.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 1000;  // as the reader: deeper trees are refused, not overflowing the stack

const char* storage_class(DType d) {
  switch (d) {
    case DType::F64: return "DoubleStorage";
    case DType::F32: return "FloatStorage";
    case DType::F16: return "HalfStorage";
    case DType::BF16: return "BFloat16Storage";
    case DType::I64: return "LongStorage";
    case DType::I32: return "IntStorage";
    case DType::I16: return "ShortStorage";
    case DType::I8: return "CharStorage";
    case DType::U8: return "ByteStorage";
    case DType::Bool: return "BoolStorage";
  }
  return "FloatStorage";
}

// Protocol-2 opcodes, as torch.save emits them.
class Pickler {
 public:
  Pickler(const std::vector<TensorInfo>& tensors, const fs::path& file) : tensors_(tensors), file_(file) {
    for (std::size_t i = 0; i < tensors.size(); ++i)
      if (!index_.emplace(tensors[i].name, i).second) fail("tensor '" + tensors[i].name + "' is declared twice");
    used_.assign(tensors.size(), false);
  }

  std::string run(const PtNode& root) {
    out_ = "\x80\x02";
    node(root, 0);
    out_ += '.';
    for (std::size_t i = 0; i < tensors_.size(); ++i)
      if (!used_[i]) fail("tensor '" + tensors_[i].name + "' is declared but no node of the tree refers to it");
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw CheckpointError(file_, what); }

  void node(const PtNode& n, int depth) {
    if (depth > kMaxDepth) fail("the tree is nested more than " + std::to_string(kMaxDepth) + " levels deep");
    using K = PtNode::Kind;
    switch (n.kind) {
      case K::None: out_ += 'N'; break;
      case K::Bool: out_ += n.b ? '\x88' : '\x89'; break;
      case K::Int: integer(n.i); break;
      case K::Float: {
        out_ += 'G';  // BINFLOAT: big-endian IEEE 754
        const auto bits = std::bit_cast<uint64_t>(n.f);
        for (int i = 7; i >= 0; --i) out_ += static_cast<char>(bits >> (8 * i));
        break;
      }
      case K::Str: text(n.s); break;
      case K::Bytes: bytes(n.s); break;
      case K::Tensor: tensor(n.s); break;
      case K::List:
        out_ += "](";
        for (const auto& [key, child] : n.children) node(child, depth + 1);
        out_ += 'e';  // APPENDS
        break;
      case K::Tuple:
        out_ += '(';
        for (const auto& [key, child] : n.children) node(child, depth + 1);
        out_ += 't';
        break;
      case K::Dict:
        if (n.ordered_dict) out_ += "ccollections\nOrderedDict\n)R(";  // OrderedDict(), MARK
        else out_ += "}(";
        for (const auto& [key, child] : n.children) {
          if (const auto* i = std::get_if<int64_t>(&key)) integer(*i);
          else text(std::get<std::string>(key));
          node(child, depth + 1);
        }
        out_ += 'u';  // SETITEMS
        break;
      case K::Object:
        fail("the tree holds an object of class '" + n.s +
             "'; a torch.save(model) file is written back as a state dict (its tensors by name), not as a module");
    }
  }

  void text(const std::string& s) {
    out_ += 'X';
    u32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  // What Python's protocol 2 writes for bytes, the one spelling
  // weights_only allows: _codecs.encode(<the bytes as latin1 chars>, "latin1").
  void bytes(const std::string& b) {
    std::string latin1;
    for (unsigned char c : b) {
      if (c < 0x80) {
        latin1 += static_cast<char>(c);
      } else {
        latin1 += static_cast<char>(0xC0 | (c >> 6));
        latin1 += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    out_ += "c_codecs\nencode\n(";
    text(latin1);
    text("latin1");
    out_ += "tR";
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: little-endian two's complement, 8 bytes
      out_ += "\x8a\x08";
      for (int i = 0; i < 8; ++i) out_ += static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
    }
  }
  void int_tuple(const std::vector<int64_t>& v) {
    out_ += '(';
    for (auto x : v) integer(x);
    out_ += 't';
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>(v >> (8 * i));
  }
  void global(const std::string& module, const std::string& name) { out_ += "c" + module + "\n" + name + "\n"; }

  // _rebuild_tensor_v2(storage, 0, shape, contiguous stride, False, OrderedDict()),
  // one storage per tensor, keyed by its index in the declared order.
  void tensor(const std::string& name) {
    const auto it = index_.find(name);
    if (it == index_.end()) fail("the tree refers to tensor '" + name + "', which is not declared");
    if (used_[it->second]) fail("the tree refers to tensor '" + name + "' twice");
    used_[it->second] = true;
    const TensorInfo& t = tensors_[it->second];
    global("torch._utils", "_rebuild_tensor_v2");
    out_ += '(';
    out_ += '(';  // persistent id: ('storage', <class>, key, location, numel)
    text("storage");
    global("torch", storage_class(t.dtype));
    text(std::to_string(it->second));
    text("cpu");
    integer(checked_numel(t.shape).value_or(0));
    out_ += "tQ";
    integer(0);  // storage offset
    int_tuple(t.shape);
    std::vector<int64_t> stride(t.shape.size(), 1);
    for (std::size_t d = t.shape.size(); d-- > 1;) stride[d - 1] = stride[d] * t.shape[d];
    int_tuple(stride);
    out_ += '\x89';  // requires_grad = False
    global("collections", "OrderedDict");
    out_ += ")Rt";  // backward_hooks = OrderedDict(), end of args
    out_ += 'R';    // _rebuild_tensor_v2(*args)
  }

  const std::vector<TensorInfo>& tensors_;
  fs::path file_;
  std::map<std::string, std::size_t> index_;
  std::vector<bool> used_;
  std::string out_;
};

}  // namespace

std::string pickle_tree(const PtNode& root, const std::vector<TensorInfo>& tensors, const fs::path& file) {
  return Pickler(tensors, file).run(root);
}

}  // namespace xcompat
