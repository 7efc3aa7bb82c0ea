// Keeps the language reference honest: every ```edict block of
// docs/language.md must parse and check without errors, every ```edict-error
// block must fail, and the shipped policies must check clean.
#include <catch2/catch.hpp>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/check/check.h"
#include "compiler/parse/parse.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace {

const std::string kSourceDir = EDICT_SOURCE_DIR;

struct DocBlock {
  std::string fence;  // "edict" or "edict-error"
  int line = 0;       // 1-based line of the opening fence in docs/language.md
  std::string code;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Fences follow CommonMark closely enough for our own documents: a fence is a
// run of three or more backticks at the start of a line, closed by a run at
// least as long. Only blocks whose info string is exactly `edict` or
// `edict-error` are collected, so a ````markdown block that shows a literate
// file (with ```edict inside) is skipped whole.
std::vector<DocBlock> extract_blocks(const std::string& markdown) {
  std::vector<DocBlock> blocks;
  std::istringstream lines(markdown);
  std::string line;
  int line_no = 0;
  size_t open_fence = 0;  // backticks of the open fence; 0 when outside
  bool collecting = false;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first_other = line.find_first_not_of('`');
    const size_t ticks = first_other == std::string::npos ? line.size() : first_other;
    if (open_fence > 0) {
      if (ticks >= open_fence && line.find_first_not_of(" \t", ticks) == std::string::npos) {
        open_fence = 0;
        collecting = false;
      } else if (collecting) {
        blocks.back().code += line;
        blocks.back().code += '\n';
      }
      continue;
    }
    if (ticks >= 3) {
      open_fence = ticks;
      const std::string info = line.substr(ticks);
      collecting = info == "edict" || info == "edict-error";
      if (collecting) blocks.push_back(DocBlock{info, line_no, {}});
    }
  }
  return blocks;
}

struct CheckResult {
  size_t errors = 0;
  size_t warnings = 0;
  std::string rendered;  // every diagnostic, for the failure message
};

// Checks `code` as if it were a file inside docs/, so `import "../policies/..."`
// resolves exactly as it would for a reader who copies the block there and
// runs `edict check --import-path policies docs/FILE`. The block is served
// from memory; imports come from disk.
CheckResult check_as_docs_file(const std::string& code, int block_line) {
  const std::string file_name = "language.md.block" + std::to_string(block_line) + ".edict";
  const std::string virtual_path = kSourceDir + "/docs/" + file_name;
  const edict::parse::FileReader disk = edict::parse::disk_reader();
  // Matched by name, not by full path, so the loader may normalise paths as it likes.
  edict::parse::FileReader reader = [&](const std::string& path,
                                        std::string* error) -> std::optional<std::string> {
    const bool is_block = path.size() >= file_name.size() &&
                          path.compare(path.size() - file_name.size(), file_name.size(), file_name) == 0;
    if (is_block) return code;
    return disk(path, error);
  };
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::parse::Limits limits;
  limits.import_paths = {kSourceDir + "/policies"};
  edict::ast::Program program = edict::parse::load_program({virtual_path}, sources, sink, limits, reader);
  edict::check::check(program, sources, sink);
  return CheckResult{sink.error_count(), sink.warning_count(), edict::render_human(sources, sink.sorted())};
}

CheckResult check_file(const std::string& path) {
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::ast::Program program = edict::parse::load_program({path}, sources, sink);
  edict::check::check(program, sources, sink);
  return CheckResult{sink.error_count(), sink.warning_count(), edict::render_human(sources, sink.sorted())};
}

}  // namespace

TEST_CASE("the fence scanner finds edict and edict-error blocks only", "[docs]") {
  const auto blocks = extract_blocks(
      "text\n```edict\nconst a = 1\n```\n```sh\nedict check\n```\n```edict-error\nconst = \n```\n"
      "````markdown\n```edict\nconst hidden = 1\n```\n````\n```edict\n```\n");
  REQUIRE(blocks.size() == 3);
  CHECK(blocks[0].fence == "edict");
  CHECK(blocks[0].line == 2);
  CHECK(blocks[0].code == "const a = 1\n");
  CHECK(blocks[1].fence == "edict-error");
  CHECK(blocks[1].code == "const = \n");
  CHECK(blocks[2].code.empty());
}

TEST_CASE("a block is checked as a file inside docs/, imports included", "[docs]") {
  const std::string uses_import =
      "import \"../policies/common/events.edict\"\n"
      "rule listed on rental\n  cite \"15 CFR 744.11\"\n  deny\n  when event.entity_listed\n";
  const CheckResult good = check_as_docs_file(uses_import, 1);
  INFO(good.rendered);
  CHECK(good.errors == 0);
  CHECK(good.warnings == 0);

  std::string misspelt = uses_import;
  misspelt.replace(misspelt.find("entity_listed"), 13, "entity_lsted");
  const CheckResult bad = check_as_docs_file(misspelt, 2);
  CHECK(bad.errors == 1);
  CHECK(bad.rendered.find("E0103") != std::string::npos);
  CHECK(bad.rendered.find("language.md.block2.edict:5:14") != std::string::npos);
}

TEST_CASE("every edict block of the language reference checks without errors", "[docs]") {
  const std::string markdown = read_text(kSourceDir + "/docs/language.md");
  REQUIRE_FALSE(markdown.empty());
  const auto blocks = extract_blocks(markdown);
  size_t compiled = 0;
  for (const auto& block : blocks) {
    if (block.fence != "edict") continue;
    ++compiled;
    const CheckResult result = check_as_docs_file(block.code, block.line);
    INFO("docs/language.md block at line " << block.line << ":\n" << block.code << "\n" << result.rendered);
    CHECK(result.errors == 0);
  }
  // A broken fence pattern must not make this test pass on nothing.
  CHECK(compiled >= 25);
}

TEST_CASE("every edict-error block of the language reference is rejected", "[docs]") {
  const auto blocks = extract_blocks(read_text(kSourceDir + "/docs/language.md"));
  size_t rejected = 0;
  for (const auto& block : blocks) {
    if (block.fence != "edict-error") continue;
    ++rejected;
    const CheckResult result = check_as_docs_file(block.code, block.line);
    INFO("docs/language.md edict-error block at line " << block.line << " is accepted:\n" << block.code);
    CHECK(result.errors > 0);
  }
  CHECK(rejected >= 3);
}

TEST_CASE("the shipped policies check without errors or warnings", "[docs]") {
  for (const char* file : {"/policies/common/events.edict", "/policies/reference.edict"}) {
    const CheckResult result = check_file(kSourceDir + file);
    INFO(file << ":\n" << result.rendered);
    CHECK(result.errors == 0);
    CHECK(result.warnings == 0);
  }
}
