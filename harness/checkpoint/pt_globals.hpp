#pragma once
// Which globals the restricted unpickler (pt_reader.cpp) accepts, and why.
// The unpickler never imports or calls a global: a global is only a name.
// The few names a state dict needs are interpreted (they rebuild tensors,
// dicts, sets, bytes); any other class global becomes an inert record (an
// Object node: the class name and the attributes the file gives it), which
// is how a torch.save(model) file is read without running it.
//
// Since nothing runs, reading an inert record is safe whatever its name; the
// refusals are for clarity. A file that names os.system, builtins.eval or
// subprocess.Popen was made to run code when loaded, and is refused by name
// rather than read as a curious checkpoint. So the policy is:
//   - builtins: a short allow-list of plain types (object, set, frozenset,
//     slice, range, complex, bytes, bytearray, int, float, str, bool, list,
//     dict, tuple); eval, exec, getattr, __import__, compile, open... refused;
//   - copyreg: _reconstructor, __newobj__, __newobj_ex__ (how instances are
//     pickled); _codecs: encode (how protocol 2 pickles bytes);
//   - torch._utils / torch._tensor: the tensor rebuilders this reader
//     understands; any other (quantized, sparse, nested, meta tensors...)
//     is refused, because its tensor could not be read;
//   - a deny-list of modules that exist to run code or touch the system
//     (os, posix, subprocess, sys, importlib, pickle, shutil, socket, runpy,
//     pty, code, functools, operator, ctypes, multiprocessing, ...), plus
//     torch.hub, torch.jit, torch.package, torch.utils.cpp_extension,
//     torch.load and torch.serialization; except functools.partial, which
//     x-transformers modules hold (partial(F.softmax, dim=-1)): as a record
//     it is never called, and the function it wraps is judged by itself;
//   - anything else that is a well-formed dotted Python name (torch.*,
//     collections.*, numpy.*, x_transformers.*, a user's __main__.Model):
//     an inert record.
#include <string>

namespace xcompat {

struct GlobalVerdict {
  bool allowed = false;
  std::string name;  // "module.name", Python 2 spellings mapped (__builtin__ -> builtins)
  std::string why;   // when refused: the reason, for the error message
};

GlobalVerdict judge_global(const std::string& module, const std::string& name);

}  // namespace xcompat
