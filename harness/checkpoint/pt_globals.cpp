#include "harness/checkpoint/pt_globals.hpp"

#include <set>
#include <string_view>

namespace xcompat {

namespace {

// A dotted Python name: identifiers (ASCII letters, digits, _) joined by
// single dots. Anything else cannot be a real class and is refused, so junk
// never reaches an Object record or an error message unescaped.
bool dotted_name(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  bool start = true;
  for (char c : s) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (start) return false;
      start = true;
    } else if (alpha || (digit && !start)) {
      start = false;
    } else {
      return false;
    }
  }
  return !start;
}

bool under(std::string_view module, std::string_view root) {
  return module == root || (module.size() > root.size() && module.substr(0, root.size()) == root &&
                            module[root.size()] == '.');
}

// Modules whose globals exist to run code, load code, or reach the system.
// A checkpoint has no use for any of them.
const std::set<std::string, std::less<>>& denied_roots() {
  static const std::set<std::string, std::less<>> s = {
      "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "sys", "importlib", "imp",
      "zipimport", "pkgutil", "runpy", "site", "sysconfig", "pickle", "_pickle", "cPickle", "pickletools",
      "marshal", "shelve", "dill", "cloudpickle", "joblib", "shutil", "tempfile", "glob", "pathlib", "io", "_io",
      "fileinput", "mmap", "fcntl", "resource", "pwd", "grp", "socket", "_socket", "ssl", "select", "selectors",
      "asyncio", "http", "httplib", "urllib", "urllib2", "urllib3", "requests", "ftplib", "smtplib", "telnetlib",
      "xmlrpc", "webbrowser", "pty", "tty", "termios", "code", "codeop", "compileall", "py_compile", "ast",
      "dis", "inspect", "types", "functools", "_functools", "operator", "_operator", "ctypes", "_ctypes",
      "multiprocessing", "concurrent", "threading", "_thread", "signal", "atexit", "gc", "pdb", "bdb", "timeit",
      "trace", "cProfile", "profile", "commands", "popen2", "platform", "linecache", "tokenize", "codecs",
      "distutils", "setuptools", "pip", "ensurepip", "venv", "nturl2path"};
  return s;
}

// Submodules and names that load or compile code (logging.config.listen
// runs what it receives).
bool denied_torch(std::string_view module, std::string_view name) {
  for (std::string_view m : {"logging.config", "torch.hub", "torch.jit", "torch.package", "torch.utils.cpp_extension",
                             "torch.serialization", "torch._dynamo", "torch._inductor", "torch.compiler"})
    if (under(module, m)) return true;
  return module == "torch" && (name == "load" || name == "save" || name == "compile");
}

}  // namespace

GlobalVerdict judge_global(const std::string& module, const std::string& name) {
  GlobalVerdict v;
  // Python 2 spellings, as protocol 2 pickles write them (fix_imports).
  std::string mod = module;
  if (mod == "__builtin__") mod = "builtins";
  else if (mod == "copy_reg") mod = "copyreg";
  v.name = mod + "." + name;
  if (!dotted_name(mod) || !dotted_name(name)) {
    v.why = "not a Python module and name";
    return v;
  }
  const std::string_view root = std::string_view(mod).substr(0, mod.find('.'));
  if (mod == "builtins") {
    static const std::set<std::string, std::less<>> plain = {"object", "set",  "frozenset", "slice", "range",
                                                            "complex", "bytes", "bytearray", "int",  "float",
                                                            "str",    "bool", "list",      "dict",  "tuple"};
    v.allowed = plain.count(name) != 0;
    if (!v.allowed) v.why = "of builtins only plain types (object, set, bytes, slice, ...) are read";
  } else if (mod == "copyreg") {
    v.allowed = name == "_reconstructor" || name == "__newobj__" || name == "__newobj_ex__";
    if (!v.allowed) v.why = "of copyreg only _reconstructor and __newobj__ (how instances are pickled) are read";
  } else if (mod == "_codecs") {
    v.allowed = name == "encode";
    if (!v.allowed) v.why = "of _codecs only encode (how bytes are pickled) is read";
  } else if (mod == "torch._utils" || mod == "torch._tensor") {
    v.allowed = v.name == "torch._utils._rebuild_tensor_v2" || v.name == "torch._utils._rebuild_parameter" ||
                v.name == "torch._utils._rebuild_parameter_with_state" ||
                v.name == "torch._tensor._rebuild_from_type_v2";
    if (!v.allowed)
      v.why = "a state_dict needs only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
              "torch._utils._rebuild_parameter[_with_state] and torch.*Storage types; other tensor kinds "
              "(quantized, sparse, nested, meta, subclasses) are not read";
  } else if (v.name == "functools.partial") {
    // x-transformers modules hold partial(F.softmax, ...) and the like, so a
    // torch.save(model) of them names it. Here it is a record like any other:
    // its function is a global judged on its own (partial(os.system) is
    // still refused for os.system), and a record is never called.
    v.allowed = true;
  } else if (denied_roots().count(root) != 0 || root.starts_with("__") || denied_torch(mod, name)) {
    // __main__ is a user's script and fine; other dunder modules are not.
    v.allowed = mod == "__main__";
    if (!v.allowed) v.why = "module '" + mod + "' runs code or reaches the system, and no checkpoint needs it";
  } else {
    v.allowed = true;  // an inert record: named, never imported or called
  }
  return v;
}

}  // namespace xcompat
