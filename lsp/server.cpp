// The language server's message loop and dispatch (see server.h). Every
// message is parsed and checked before use; a bad one gets a JSON-RPC error
// (or, as a notification, is dropped) and never stops the server.
#include "lsp/server.h"

#include <map>
#include <memory>
#include <stdexcept>

#include "lsp/analysis.h"
#include "lsp/features.h"

namespace edict::lsp {
namespace {

// JSON-RPC and LSP error codes.
constexpr int kParseError = -32700, kInvalidRequest = -32600, kMethodNotFound = -32601,
              kInvalidParams = -32602, kInternalError = -32603, kServerNotInitialized = -32002,
              kRequestFailed = -32803;

struct RpcError : std::runtime_error {
  int code;
  RpcError(int c, const std::string& message) : std::runtime_error(message), code(c) {}
};

struct Document {
  std::string path;  // normal path
  std::string text;
  std::unique_ptr<Analysis> analysis;
};

class Server {
 public:
  Server(std::ostream& out, const ServerOptions& options) : out_(out), options_(options) {}

  // Handles one message body; true once `exit` arrived.
  bool handle(const std::string& body);
  void frame_error(const std::string& error) { reply_error(nullptr, kParseError, error); }
  int exit_code() const { return shutdown_ ? 0 : 1; }

 private:
  std::ostream& out_;
  ServerOptions options_;
  bool initialized_ = false, shutdown_ = false;
  std::vector<std::string> workspace_folders_;
  std::map<std::string, Document> documents_;  // by URI

  void send(const json& message) {
    write_frame(out_, message.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  void reply(const json& id, json result) {
    send({{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
  }
  void reply_error(const json& id, int code, const std::string& message) {
    send({{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
  }
  void notify(const std::string& method, json params) {
    send({{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
  }

  json request(const std::string& method, const json& params);
  void notification(const std::string& method, const json& params);
  json initialize(const json& params);
  void open(const std::string& uri, std::string text);
  void change(const std::string& uri, const json& changes);
  void reanalyse(const std::string& changed_path);
  void publish(const std::string& uri, const Document& d) {
    if (d.analysis && d.analysis->file != kNoFile)
      notify("textDocument/publishDiagnostics", diagnostics(*d.analysis, uri));
  }
  const Document& document(const json& params);
  parse::Limits limits() const {
    parse::Limits l;
    l.import_paths = options_.import_paths;
    l.import_paths.insert(l.import_paths.end(), workspace_folders_.begin(), workspace_folders_.end());
    return l;
  }
};

const json& member(const json& object, const char* name) {
  static const json null_value;
  if (!object.is_object())
    throw RpcError(kInvalidParams, std::string("expected an object with `") + name + "`");
  auto it = object.find(name);
  return it == object.end() ? null_value : *it;
}

std::string string_member(const json& object, const char* name) {
  const json& v = member(object, name);
  if (!v.is_string()) throw RpcError(kInvalidParams, std::string("`") + name + "` must be a string");
  return v.get<std::string>();
}

Position position_member(const json& params) {
  const json& p = member(params, "position");
  const json& line = member(p, "line");
  const json& character = member(p, "character");
  if (!line.is_number_unsigned() || !character.is_number_unsigned())
    throw RpcError(kInvalidParams, "`position` needs unsigned `line` and `character`");
  auto clamp = [](const json& v) {
    uint64_t n = v.get<uint64_t>();
    return static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX));
  };
  return {clamp(line), clamp(character)};
}

json Server::initialize(const json& params) {
  if (params.is_object()) {
    auto add_folder = [&](const json& uri) {
      if (!uri.is_string()) return;
      std::string path = path_from_uri(uri.get<std::string>());
      if (!path.empty()) workspace_folders_.push_back(path);
    };
    add_folder(member(params, "rootUri"));
    const json& folders = member(params, "workspaceFolders");
    if (folders.is_array())
      for (const json& f : folders)
        if (f.is_object()) add_folder(member(f, "uri"));
    const json& init = member(params, "initializationOptions");
    if (init.is_object() && member(init, "importPaths").is_array())
      for (const json& p : member(init, "importPaths"))
        if (p.is_string()) workspace_folders_.push_back(p.get<std::string>());
  }
  initialized_ = true;
  json sync{{"openClose", true}, {"change", 2}};  // incremental: ranges applied to the kept text
  return json{{"capabilities",
               {{"textDocumentSync", sync},
                {"hoverProvider", true},
                {"definitionProvider", true},
                {"completionProvider", {{"triggerCharacters", {".", "\""}}}},
                {"documentFormattingProvider", true},
                {"documentSymbolProvider", true}}},
              {"serverInfo", {{"name", "edict"}}}};
}

void Server::open(const std::string& uri, std::string text) {
  if (!documents_.count(uri) && documents_.size() >= options_.max_documents)
    throw RpcError(kRequestFailed, "too many open documents");
  std::string path = path_from_uri(uri);
  // A document without a file (an unsaved buffer): a name of its own in the
  // current folder, read from the editor only; its imports resolve there.
  if (path.empty()) path = "untitled-" + std::to_string(std::hash<std::string>{}(uri)) + ".edict";
  Document& d = documents_[uri];
  d.path = normal_path(path);
  d.text = std::move(text);
  reanalyse(d.path);
}

void Server::change(const std::string& uri, const json& changes) {
  auto it = documents_.find(uri);
  if (it == documents_.end()) throw RpcError(kInvalidParams, "change to a document that is not open");
  if (!changes.is_array()) throw RpcError(kInvalidParams, "`contentChanges` must be an array");
  Document& d = it->second;
  for (const json& c : changes) {
    std::string text = string_member(c, "text");
    const json& range = member(c, "range");
    if (range.is_null()) {
      d.text = std::move(text);
      continue;
    }
    SourceManager scratch;  // line table of the current text
    const SourceFile& f = scratch.file(scratch.add(d.path, d.text));
    uint32_t begin = offset_of(f, position_member({{"position", member(range, "start")}}));
    uint32_t end = offset_of(f, position_member({{"position", member(range, "end")}}));
    if (end < begin) throw RpcError(kInvalidParams, "a change whose range ends before it starts");
    if (d.text.size() - (end - begin) + text.size() > options_.frames.max_body_bytes)
      throw RpcError(kRequestFailed, "the document would grow past the size limit");
    d.text.replace(begin, end - begin, text);
  }
  reanalyse(d.path);
}

// Recompiles every open document that reads `changed_path` (itself included).
void Server::reanalyse(const std::string& changed_path) {
  OpenTexts open;
  for (const auto& [uri, d] : documents_) open[d.path] = d.text;
  for (auto& [uri, d] : documents_) {
    if (d.path != changed_path && !(d.analysis && d.analysis->reads(changed_path))) continue;
    d.analysis = analyse(d.path, open, limits());
    publish(uri, d);
  }
}

const Document& Server::document(const json& params) {
  std::string uri = string_member(member(params, "textDocument"), "uri");
  auto it = documents_.find(uri);
  if (it == documents_.end()) throw RpcError(kRequestFailed, "the document is not open");
  if (!it->second.analysis || it->second.analysis->file == kNoFile)
    throw RpcError(kRequestFailed, "the document could not be read");
  return it->second;
}

json Server::request(const std::string& method, const json& params) {
  if (method == "initialize") return initialize(params);
  if (!initialized_) throw RpcError(kServerNotInitialized, "the server is not initialized");
  if (shutdown_) throw RpcError(kInvalidRequest, "the server is shutting down");
  if (method == "shutdown") {
    shutdown_ = true;
    return nullptr;
  }
  if (method == "textDocument/hover") return hover(*document(params).analysis, position_member(params));
  if (method == "textDocument/definition")
    return definition(*document(params).analysis, position_member(params));
  if (method == "textDocument/completion")
    return completion(*document(params).analysis, position_member(params));
  if (method == "textDocument/documentSymbol") return document_symbols(*document(params).analysis);
  if (method == "textDocument/formatting") {
    const Document& d = document(params);
    std::string error;
    std::optional<json> edits = formatting(d.path, d.text, error);
    if (!edits) throw RpcError(kRequestFailed, error);
    return *edits;
  }
  throw RpcError(kMethodNotFound, "no method `" + method + "`");
}

void Server::notification(const std::string& method, const json& params) {
  if (!initialized_) return;  // the protocol drops notifications before `initialize`
  if (method == "textDocument/didOpen") {
    const json& doc = member(params, "textDocument");
    open(string_member(doc, "uri"), string_member(doc, "text"));
  } else if (method == "textDocument/didChange") {
    change(string_member(member(params, "textDocument"), "uri"), member(params, "contentChanges"));
  } else if (method == "textDocument/didClose") {
    std::string uri = string_member(member(params, "textDocument"), "uri");
    if (auto it = documents_.find(uri); it != documents_.end()) {
      std::string path = it->second.path;
      documents_.erase(it);
      notify("textDocument/publishDiagnostics", {{"uri", uri}, {"diagnostics", json::array()}});
      reanalyse(path);  // importers now read the file from disk
    }
  }
  // `initialized`, `$/cancelRequest`, `didSave`, ...: nothing to do.
}

bool Server::handle(const std::string& body) {
  json message = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    reply_error(nullptr, kParseError, "the message is not valid JSON");
    return false;
  }
  json id = message.is_object() && message.contains("id") ? message["id"] : json();
  bool is_request = message.is_object() && message.contains("id");
  if (is_request && !id.is_string() && !id.is_number_integer()) {
    reply_error(nullptr, kInvalidRequest, "`id` must be a string or an integer");
    return false;
  }
  if (!message.is_object() || !message.contains("method") || !message["method"].is_string()) {
    // A response to a request of ours (we send none) or garbage.
    if (!(message.is_object() && (message.contains("result") || message.contains("error"))))
      reply_error(id, kInvalidRequest, "a request needs a string `method`");
    return false;
  }
  const std::string method = message["method"].get<std::string>();
  const json params = message.contains("params") ? message["params"] : json::object();
  if (!is_request) {
    if (method == "exit") return true;
    try {
      notification(method, params);
    } catch (const std::exception&) {
      // Notifications have no reply; the document keeps its last state.
    }
    return false;
  }
  try {
    reply(id, request(method, params));
  } catch (const RpcError& e) {
    reply_error(id, e.code, e.what());
  } catch (const json::exception& e) {
    reply_error(id, kInvalidParams, e.what());
  } catch (const std::exception& e) {
    reply_error(id, kInternalError, e.what());
  }
  return false;
}

}  // namespace

int serve(std::istream& in, std::ostream& out, const ServerOptions& options) {
  Server server(out, options);
  std::string body, error;
  size_t skip = 0;
  for (;;) {
    switch (read_frame(in, body, error, skip, options.frames)) {
      case ReadStatus::End: return server.exit_code();
      case ReadStatus::BadHeader: server.frame_error(error); break;
      case ReadStatus::TooLarge:
        server.frame_error(error);
        if (!skip_bytes(in, skip)) return server.exit_code();
        break;
      case ReadStatus::Message:
        if (server.handle(body)) return server.exit_code();
        break;
    }
  }
}

}  // namespace edict::lsp
