// `edict test PATH...`: run the `test` blocks of policy files on both engines
// (or the one --engine names) and report every failing step, for people
// (human), programs (json) and CI systems (--junit); optionally with coverage.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/output.h"
#include "support/atomic_file.h"
#include "tools/coverage.h"
#include "tools/testing.h"

namespace edict::cli {
namespace {

struct FiredRule {
  std::string name, effect, cite;
};

// One failing step on one engine.
struct Failure {
  std::string engine;
  size_t step = 0;  // 1-based
  uint32_t line = 0, column = 0;
  std::string event, expected, actual, error;
  std::vector<FiredRule> fired;
};

struct TestResult {
  std::string file, name;
  uint32_t line = 0, column = 0;
  std::vector<Failure> failures;
  bool passed() const { return failures.empty(); }
};

std::string json(std::string_view s) {
  std::string out;
  engine::append_json_string(out, s);
  return out;
}

std::string xml(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no place for other control characters.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r')
          out += '?';
        else
          out += c;
    }
  }
  return out;
}

std::string describe(const Failure& f, const std::string& file) {
  std::string s = fmt::format("{}:{}:{}: step {} [{}]\n", file, f.line, f.column, f.step, f.engine);
  s += fmt::format("  given:    {}\n  expected: {}\n  actual:   {}\n", f.event, f.expected, f.actual);
  if (!f.error.empty()) s += fmt::format("  error:    {}\n", f.error);
  s += "  fired:    ";
  if (f.fired.empty()) s += "no rule";
  for (size_t i = 0; i < f.fired.size(); ++i)
    s += fmt::format("{}{} ({}, {})", i ? "\n            " : "", f.fired[i].name, f.fired[i].effect,
                     f.fired[i].cite.empty() ? "no citation" : f.fired[i].cite);
  return s + "\n";
}

std::string junit(const std::vector<TestResult>& results) {
  std::map<std::string, std::vector<const TestResult*>> by_file;
  size_t failed = 0;
  for (const TestResult& t : results) {
    by_file[t.file].push_back(&t);
    failed += t.passed() ? 0 : 1;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out +=
      fmt::format("<testsuites name=\"edict test\" tests=\"{}\" failures=\"{}\">\n", results.size(), failed);
  for (const auto& [file, tests] : by_file) {
    size_t f = 0;
    for (const TestResult* t : tests) f += t->passed() ? 0 : 1;
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
                       xml(file), tests.size(), f);
    for (const TestResult* t : tests) {
      out += fmt::format("    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"", xml(t->name),
                         xml(file), xml(file), t->line);
      if (t->passed()) {
        out += "/>\n";
        continue;
      }
      const Failure& first = t->failures.front();
      out += fmt::format(">\n      <failure message=\"expected {}, got {}\" type=\"failed expectation\">",
                         xml(first.expected), xml(first.actual));
      for (const Failure& fl : t->failures) out += xml(describe(fl, file));
      out += "</failure>\n    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

std::string results_json(const std::vector<TestResult>& results, size_t passed, size_t failed,
                         const std::string& coverage_json) {
  std::string out = fmt::format("{{\"passed\":{},\"failed\":{},\"tests\":[", passed, failed);
  for (size_t i = 0; i < results.size(); ++i) {
    const TestResult& t = results[i];
    if (i) out += ',';
    out += fmt::format("{{\"name\":{},\"file\":{},\"line\":{},\"passed\":{}", json(t.name), json(t.file),
                       t.line, t.passed());
    if (!t.passed()) {
      out += ",\"failures\":[";
      for (size_t k = 0; k < t.failures.size(); ++k) {
        const Failure& f = t.failures[k];
        if (k) out += ',';
        out += fmt::format(
            "{{\"engine\":\"{}\",\"step\":{},\"line\":{},\"event\":{},\"expected\":{},\"actual\":{}",
            f.engine, f.step, f.line, json(f.event), json(f.expected), json(f.actual));
        if (!f.error.empty()) out += ",\"error\":" + json(f.error);
        out += ",\"fired\":[";
        for (size_t r = 0; r < f.fired.size(); ++r)
          out += fmt::format("{}{{\"name\":{},\"effect\":{},\"cite\":{}}}", r ? "," : "",
                             json(f.fired[r].name), json(f.fired[r].effect), json(f.fired[r].cite));
        out += "]}";
      }
      out += ']';
    }
    out += '}';
  }
  out += ']';
  if (!coverage_json.empty()) out += ",\"coverage\":" + coverage_json.substr(0, coverage_json.size() - 1);
  return out + "}\n";
}

bool write_file(const std::string& path, const std::string& text) {
  std::string why;
  if (write_file_atomically(path, text, &why)) return true;
  std::fprintf(stderr, "edict: %s\n", why.c_str());
  return false;
}

}  // namespace

void add_test_options(CLI::App& cmd, TestOptions& o) {
  cmd.add_option("paths", o.paths, "Policy files or folders whose `test` blocks to run")->required();
  cmd.add_option("--engine", o.engine, "Run on `jit`, `interp` or `both`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp", "both"}));
  cmd.add_option("--filter", o.filter, "Only tests whose title contains this text");
  cmd.add_option("--format", o.format, "Results as `human` text or one `json` document")
      ->capture_default_str()
      ->check(CLI::IsMember({"human", "json"}));
  cmd.add_option("--junit", o.junit, "Also write the results as JUnit XML to this file");
  cmd.add_flag("--coverage", o.coverage,
               "Report which rules fired and did not, which conditions were true and false, and which table "
               "rows and set members the tests touched");
  cmd.add_option("--coverage-format", o.coverage_format,
                 "Coverage report as `human` (marked source lines) or `json`")
      ->capture_default_str()
      ->check(CLI::IsMember({"human", "json"}));
  cmd.add_option("--coverage-output", o.coverage_output,
                 "Write the coverage report here instead of standard output");
  cmd.add_option("--min", o.min_coverage,
                 "Fail (exit 1) when coverage is below a percentage: `PCT` for the total, or `KIND=PCT` with "
                 "KIND rules, conditions, table_rows or set_members (repeatable; implies --coverage)");
  cmd.add_option("--coverage-scope", o.coverage_scope,
                 "Cover only this policy file or `policy` title (repeatable; implies --coverage): the "
                 "report shows it even when fully covered, and --min applies to it, not to what it imports");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
}

int run_test(const TestOptions& o) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(o.paths, &paths_ok);
  if (!paths_ok) return kExitUsage;
  if (!output_spares_inputs(o.junit, "--junit", files) ||
      !output_spares_inputs(o.coverage_output, "--coverage-output", files))
    return kExitUsage;
  std::vector<engine::Backend> backends;
  if (o.engine != "interp") backends.push_back(engine::Backend::Jit);
  if (o.engine != "jit") backends.push_back(engine::Backend::Interp);
  std::vector<std::pair<std::string, double>> minimums;
  for (const std::string& spec : o.min_coverage) {
    size_t eq = spec.find('=');
    std::string kind = eq == std::string::npos ? "total" : spec.substr(0, eq);
    std::string pct = eq == std::string::npos ? spec : spec.substr(eq + 1);
    char* end = nullptr;
    double v = std::strtod(pct.c_str(), &end);
    bool known = kind == "total" || kind == "rules" || kind == "conditions" || kind == "table_rows" ||
                 kind == "set_members";
    if (!known || pct.empty() || *end != '\0' || v < 0 || v > 100) {
      std::fprintf(
          stderr,
          "edict: --min `%s`: expected a percentage (0-100), optionally after `rules=`, `conditions=`, "
          "`table_rows=`, `set_members=` or `total=`\n",
          spec.c_str());
      return kExitUsage;
    }
    minimums.emplace_back(kind, v);
  }
  const bool want_coverage = o.coverage || !minimums.empty() || !o.coverage_scope.empty();
  const bool human = o.format == "human";

  tools::Coverage coverage;
  std::vector<TestResult> results;
  size_t passed = 0, failed = 0;
  bool compile_failed = false;
  std::vector<std::string> read_files = files;  // and every file they import
  for (const std::string& file : files) {
    std::map<std::pair<uint32_t, std::string>, size_t> index;  // (offset, title) -> results
    size_t first = results.size();
    for (size_t b = 0; b < backends.size(); ++b) {
      engine::Backend backend = backends[b];
      SourceManager sources;
      DiagnosticSink sink(o.limits.max_errors);
      engine::CompileOptions copts;
      copts.backend = backend;
      copts.limits = parse_limits(o.limits, o.paths);
      copts.data_files = o.limits.data_files;
      auto policy = engine::Policy::compile({file}, sources, sink, copts,
                                            parse::disk_reader(copts.limits.max_file_bytes * 2));
      for (size_t i = 0; i < sources.size(); ++i)
        read_files.push_back(sources.file(static_cast<FileId>(i)).path);
      if (!policy) {
        std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
        compile_failed = true;
        break;
      }
      const FileId root = policy->checked().program->roots.at(0);
      const ir::Module& m = policy->module();
      auto selected = [&](const tools::StepOutcome& s) {
        // Tests of imported files run with those files.
        return s.span.file == root && (o.filter.empty() || s.test.find(o.filter) != std::string::npos);
      };
      // Coverage is engine-independent: collect it on the first engine only.
      std::unique_ptr<engine::Tracer> tracer;
      tools::StepObserver observer;
      if (want_coverage && b == 0) {
        std::string error;
        tracer = engine::Tracer::create(*policy, &error);
        if (!tracer) {
          std::fprintf(stderr, "edict: internal error: cannot trace `%s`: %s\n", file.c_str(), error.c_str());
          return kExitInternal;
        }
        coverage.add_policy(*tracer);
        observer = [&](const tools::StepOutcome& s, const abi::Batch& batch) {
          if (!selected(s)) return;
          std::vector<const void*> data;
          std::vector<const uint8_t*> present;
          coverage.record(*tracer, engine::Policy::columns_of(batch, data, present), 0);
        };
      }
      const char* engine_name = backend == engine::Backend::Jit ? "jit" : "interp";
      for (const tools::StepOutcome& s : tools::run_tests(*policy, observer)) {
        if (!selected(s)) continue;
        auto [it, inserted] = index.emplace(std::make_pair(s.test_span.begin, s.test), results.size());
        if (inserted) {
          TestResult t;
          t.file = sources.file(root).path;
          t.name = s.test;
          LineCol lc = sources.line_col(s.test_span.file, s.test_span.begin);
          t.line = lc.line;
          t.column = lc.column;
          results.push_back(std::move(t));
        }
        if (s.passed) continue;
        Failure f;
        f.engine = engine_name;
        f.step = s.step + 1;
        LineCol lc = sources.line_col(s.span.file, s.span.begin);
        f.line = lc.line;
        f.column = lc.column;
        f.event = s.event;
        f.expected = s.expected;
        f.actual = s.actual;
        f.error = s.error;
        for (int r : s.fired_rules) {
          const ir::Rule& rule = m.rules[static_cast<size_t>(r)];
          f.fired.push_back({rule.name, m.outcomes[static_cast<size_t>(rule.effect)], rule.cite});
        }
        results[it->second].failures.push_back(std::move(f));
      }
    }
    size_t p = 0, f = 0;
    for (size_t i = first; i < results.size(); ++i) (results[i].passed() ? p : f)++;
    passed += p;
    failed += f;
    if (!human) continue;
    for (size_t i = first; i < results.size(); ++i) {
      const TestResult& t = results[i];
      if (t.passed()) continue;
      std::printf("FAIL test \"%s\" (%s:%u)\n", t.name.c_str(), t.file.c_str(), t.line);
      for (const Failure& fl : t.failures) std::fputs(describe(fl, t.file).c_str(), stdout);
    }
    if (p + f > 0) std::printf("%s: %zu test%s, %zu failed\n", file.c_str(), p + f, p + f == 1 ? "" : "s", f);
  }

  if (want_coverage && !compile_failed && !o.coverage_scope.empty()) {
    coverage.set_scope(o.coverage_scope);
    for (const std::string& unknown : coverage.unmatched_scope()) {
      std::fprintf(
          stderr,
          "edict: --coverage-scope `%s`: no file loaded by the tests has this path or `policy` title\n",
          unknown.c_str());
      compile_failed = true;
    }
    if (compile_failed) return kExitUsage;
  }
  std::string coverage_report;
  if (want_coverage && !compile_failed)
    coverage_report = o.coverage_format == "json" || (!human && o.coverage_output.empty())
                          ? tools::render_coverage_json(coverage)
                          : tools::render_coverage_human(coverage);
  bool coverage_to_stdout = !coverage_report.empty() && o.coverage_output.empty();
  if (human) {
    std::printf("%zu passed, %zu failed\n", passed, failed);
    if (coverage_to_stdout) std::printf("\n%s", coverage_report.c_str());
  } else {
    std::fputs(results_json(results, passed, failed, coverage_to_stdout ? coverage_report : "").c_str(),
               stdout);
  }
  std::fflush(stdout);
  if (!output_spares_inputs(o.junit, "--junit", read_files) ||
      !output_spares_inputs(o.coverage_output, "--coverage-output", read_files))
    return kExitUsage;
  if (!o.coverage_output.empty() && !coverage_report.empty() &&
      !write_file(o.coverage_output, coverage_report))
    return kExitUsage;
  if (!o.junit.empty() && !write_file(o.junit, junit(results))) return kExitUsage;
  if (compile_failed) return kExitUsage;
  if (failed) return kExitFindings;
  using K = tools::CoveragePoint::Kind;
  bool below = false;
  for (const auto& [kind, minimum] : minimums) {
    tools::CoverageTally t = kind == "rules"         ? coverage.tally(K::Rule)
                             : kind == "conditions"  ? coverage.tally(K::Condition)
                             : kind == "table_rows"  ? coverage.tally(K::TableRow)
                             : kind == "set_members" ? coverage.tally(K::SetMember)
                                                     : coverage.total();
    if (t.percent() + 1e-9 >= minimum) continue;
    std::fprintf(stderr, "edict: %s coverage %.1f%% is below the minimum of %g%% (--min)\n", kind.c_str(),
                 t.percent(), minimum);
    below = true;
  }
  return below ? kExitFindings : kExitOk;
}

}  // namespace edict::cli
