// Tests of the IR's bytes (compiler/ir/serialize.cpp), which the front-end
// cache keeps between runs: a shipped policy comes back printing exactly as
// lowered, and truncated or garbled bytes are refused or come back as IR the
// verifier accepts, never a crash (the sanitizer builds run this too).
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "compiler/ir/ir.h"
#include "engine/engine.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace {

using namespace edict;

const std::string kPolicies = std::string(EDICT_SOURCE_DIR) + "/policies/";

struct Lowered {
  SourceManager sources;
  std::unique_ptr<engine::Policy> policy;
};

std::unique_ptr<Lowered> lowered(const std::string& root) {
  auto l = std::make_unique<Lowered>();
  DiagnosticSink sink;
  engine::CompileOptions options;
  options.backend = engine::Backend::Interp;
  options.limits.import_paths = {kPolicies};
  l->policy = engine::Policy::compile({kPolicies + root}, l->sources, sink, options);
  INFO(render_human(l->sources, sink.sorted()));
  REQUIRE(l->policy);
  return l;
}

TEST_CASE("a lowered policy's bytes come back as the same IR", "[ir]") {
  for (const char* root : {"law_as_enforced.edict.md", "reference.edict", "structuring.edict"}) {
    INFO(root);
    auto l = lowered(root);
    const ir::Module& m = l->policy->module();
    const std::string bytes = ir::serialize(m);
    std::string why;
    std::optional<ir::Module> back = ir::deserialize(bytes, l->sources, &why);
    INFO(why);
    REQUIRE(back);
    CHECK(ir::print(*back) == ir::print(m));
    CHECK(ir::serialize(*back) == bytes);
    REQUIRE(back->tables.size() == m.tables.size());
    for (size_t t = 0; t < m.tables.size(); ++t) {
      REQUIRE(back->tables[t].external() == m.tables[t].external());
      if (!m.tables[t].external()) continue;
      // A fresh slot with the same schema: the rows are loaded afresh.
      CHECK(back->tables[t].data != m.tables[t].data);
      CHECK(back->tables[t].data->current() == nullptr);
      CHECK(back->tables[t].data->schema().default_file == m.tables[t].data->schema().default_file);
      CHECK(back->tables[t].data->schema().columns.size() == m.tables[t].data->schema().columns.size());
    }
  }
}

TEST_CASE("truncated, garbled or misplaced IR bytes are refused, never trusted blindly", "[ir]") {
  auto l = lowered("reference.edict");
  const std::string bytes = ir::serialize(l->policy->module());
  std::string why;
  // Every prefix is refused (a step keeps the test quick on large modules).
  const size_t step = std::max<size_t>(1, bytes.size() / 4000);
  for (size_t n = 0; n < bytes.size(); n += step) {
    INFO("prefix of " << n << " bytes");
    CHECK_FALSE(ir::deserialize(std::string_view(bytes).substr(0, n), l->sources, &why));
  }
  // Another format number.
  std::string other = bytes;
  other[0] = static_cast<char>(other[0] + 1);
  CHECK_FALSE(ir::deserialize(other, l->sources, &why));
  CHECK(why == "another format");
  // Spans into files the sources lack.
  SourceManager empty;
  CHECK_FALSE(ir::deserialize(bytes, empty, &why));
  // Random bytes changed: refused, or IR the verifier accepts.
  std::mt19937 rng(19);
  int refused = 0;
  for (int round = 0; round < 400; ++round) {
    std::string garbled = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) garbled[rng() % garbled.size()] = static_cast<char>(rng() & 0xFF);
    std::optional<ir::Module> m = ir::deserialize(garbled, l->sources, &why);
    if (!m) {
      ++refused;
      continue;
    }
    CHECK(ir::verify(*m).empty());
  }
  CHECK(refused > 0);
}

}  // namespace
