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

// work(i) for each i < count, on up to as many threads as there are cores
// (this one included).
template <typename Work>
void side_by_side(size_t count, Work&& work) {
  std::atomic<size_t> next{0};
  auto some = [&] {
    for (size_t i; (i = next++) < count;) work(i);
  };
  std::vector<std::thread> helpers;
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  try {
    for (size_t k = 1; k < std::min(cores, count); ++k) helpers.emplace_back(some);
  } catch (const std::system_error&) {
    // No thread to spare: this thread does what the others do not.
  }
  some();
  for (std::thread& h : helpers) h.join();
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
  // A file two sources name (the library's Entity List, screened by name
  // and read by `_id`) is read, hashed and split into records once; then
  // each source builds its own snapshot. Both steps run side by side, on
  // as many threads as there are cores; errors are reported afterwards in
  // declaration order, so what is printed does not depend on which load
  // finished first.
  std::vector<const abi::DataSchema*> schemas;
  std::vector<std::string> paths;
  for (const ir::Table& t : module.tables)
    if (t.external()) {
      schemas.push_back(&t.data->schema());
      paths.push_back(path_for(t.data->schema(), files));
    }
  std::vector<std::string> distinct;
  std::vector<size_t> file_of(schemas.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    auto at = std::find(distinct.begin(), distinct.end(), paths[i]);
    file_of[i] = static_cast<size_t>(at - distinct.begin());
    if (at == distinct.end()) distinct.push_back(paths[i]);
  }
  std::vector<std::shared_ptr<const data::ReadFile>> read(distinct.size());
  std::vector<data::LoadResult> results(schemas.size());
  std::vector<std::exception_ptr> failures(schemas.size() + distinct.size());  // rethrown on this thread
  side_by_side(distinct.size(), [&](size_t i) {
    try {
      read[i] = data::ReadFile::read(distinct[i]);
    } catch (...) {
      failures[schemas.size() + i] = std::current_exception();
    }
  });
  side_by_side(schemas.size(), [&](size_t i) {
    try {
      if (read[file_of[i]]) results[i] = read[file_of[i]]->load(*schemas[i], paths[i]);
    } catch (...) {
      failures[i] = std::current_exception();
    }
  });
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
