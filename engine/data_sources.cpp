// Loading and replacing a policy's `data` sources (engine.h).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "data/loader.h"
#include "engine/engine.h"

namespace edict::engine {
namespace {

// A data file error as a diagnostic with a span in the file itself, so it
// renders with the line and a caret like a policy error.
void report(const data::LoadError& e, SourceManager& sources, DiagnosticSink& sink) {
  Span at;
  if (e.line > 0) {
    std::ifstream in(e.file, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string text = bytes.str();
    if (e.offset <= text.size()) {
      FileId id = sources.add(e.file, std::move(text));
      at = Span{id, static_cast<uint32_t>(e.offset), static_cast<uint32_t>(e.offset)};
    }
  }
  std::string where = e.line > 0 ? fmt::format("{}:{}:{}: ", e.file, e.line, e.column) : e.file + ": ";
  sink.error(e.code, at, at.valid() ? e.message : where + e.message);
}

std::string path_for(const abi::DataSchema& schema, const std::map<std::string, std::string>& files) {
  auto it = files.find(schema.name);
  return it != files.end() ? it->second : schema.default_file;
}

}  // namespace

bool load_data_sources(const ir::Module& module, const std::map<std::string, std::string>& files,
                       SourceManager& sources, DiagnosticSink& sink) {
  for (const auto& entry : files) {
    // Named copies, not structured bindings: clang 14 (the fuzzers' compiler)
    // cannot capture those in a lambda.
    const std::string& name = entry.first;
    const std::string& file = entry.second;
    bool known = std::any_of(module.tables.begin(), module.tables.end(),
                             [&](const ir::Table& t) { return t.external() && t.name == name; });
    if (!known) {
      std::string names;
      for (const ir::Table& t : module.tables)
        if (t.external()) names += (names.empty() ? "`" : ", `") + t.name + "`";
      sink.error("E0076", Span{},
                 fmt::format("`--data {}={}`: the policy declares no data `{}`", name, file, name))
          .help = names.empty() ? "this policy declares no data sources" : "its data sources are " + names;
    }
  }
  // The sources are read, hashed and indexed side by side, on as many
  // threads as there are cores (the library's two took about 40 ms one
  // after the other, most of a start whose front end came from its cache);
  // errors are reported afterwards in declaration order, so what is
  // printed does not depend on which load finished first.
  std::vector<const abi::DataSchema*> schemas;
  for (const ir::Table& t : module.tables)
    if (t.external()) schemas.push_back(&t.data->schema());
  std::vector<data::LoadResult> results(schemas.size());
  std::vector<std::exception_ptr> failures(schemas.size());  // rethrown on this thread
  std::atomic<size_t> next_source{0};
  auto load_some = [&] {
    for (size_t i; (i = next_source++) < schemas.size();) {
      try {
        results[i] = data::load_file(*schemas[i], path_for(*schemas[i], files));
      } catch (...) {
        failures[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  try {
    for (size_t k = 1; k < std::min(cores, schemas.size()); ++k) helpers.emplace_back(load_some);
  } catch (const std::system_error&) {
    // No thread to spare: this thread loads what the others do not.
  }
  load_some();
  for (std::thread& h : helpers) h.join();
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
  std::vector<std::shared_ptr<const abi::DataSnapshot>> loaded;
  for (data::LoadResult& r : results) {
    if (r.error) {
      report(*r.error, sources, sink);
      continue;
    }
    loaded.push_back(std::move(r.snapshot));
  }
  if (sink.has_errors()) return false;
  size_t next = 0;
  for (const ir::Table& t : module.tables)
    if (t.external()) t.data->replace(std::move(loaded[next++]));
  return true;
}

std::vector<DataVersion> Policy::data_versions() const {
  std::vector<DataVersion> out;
  for (const ir::Table& t : module_.tables) {
    if (!t.external()) continue;
    const abi::DataSnapshot* s = t.data->in_use();
    out.push_back(DataVersion{t.name, s ? s->file() : "", s ? s->content_hash() : "", s ? s->size() : 0});
  }
  return out;
}

std::vector<abi::DataPin> Policy::pin_data() const {
  std::vector<abi::DataPin> pins;
  for (const ir::Table& t : module_.tables)
    if (t.external()) pins.push_back({t.data.get(), t.data->in_use()});
  return pins;
}

bool Policy::replace_data(const std::string& name, const std::string& path, std::string* error) const {
  for (const ir::Table& t : module_.tables) {
    if (!t.external() || t.name != name) continue;
    data::LoadResult r = data::load_file(t.data->schema(), path);
    if (r.error) {
      *error = r.error->text();
      return false;
    }
    t.data->replace(std::move(r.snapshot));
    return true;
  }
  *error = fmt::format("the policy declares no data `{}`", name);
  return false;
}

}  // namespace edict::engine
