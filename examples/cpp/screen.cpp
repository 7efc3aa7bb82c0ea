// Screens JSON Lines events with an Edict policy through the C++ API, then
// evaluates one event built in code (no JSON). Prints, per input line:
//   LINE <TAB> DECISION <TAB> FIRED,RULES
//
//   screen_cpp POLICY.edict EVENTS.jsonl
#include <edict/edict.hpp>

#include <fstream>
#include <iostream>
#include <string>

namespace {

void print(const std::string& line, const edict::Decision& d) {
  std::cout << line << '\t' << d.outcome << '\t';
  for (size_t i = 0; i < d.rules.size(); ++i) std::cout << (i ? "," : "") << d.rules[i].name;
  std::cout << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: screen_cpp POLICY EVENTS\n";
    return 2;
  }
  edict::Compiled compiled = edict::Policy::compile_files({argv[1]});
  if (!compiled.status.ok()) {
    std::cerr << compiled.report;  // diagnostics as `edict check` prints them
    return 2;
  }
  const edict::Policy& policy = compiled.policy;

  // One Evaluator per thread; it reuses its buffers across events.
  edict::Evaluator evaluator(policy);
  edict::Decision decision;
  std::ifstream events(argv[2], std::ios::binary);
  std::string text;
  for (long number = 1; std::getline(events, text); ++number) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    evaluator.evaluate(text, decision);  // the status is also decision.status
    print(std::to_string(number), decision);
  }

  // A typed event: look fields up once, then set values directly.
  edict::Event rental;
  if (!edict::Event::create(policy, "rental", rental).ok()) return 1;
  const edict::Field chip = policy.field("rental", "chip"), count = policy.field("rental", "chip_count");
  rental.set_string("id", "typed-1");
  rental.set_string("time", "2024-06-01T00:00:00Z");
  for (const char* f : {"provider", "region", "customer_id", "customer_name", "purpose", "training_data",
                        "end_user_type", "end_use"})
    rental.set_string(f, "unknown");
  for (const char* f : {"provider_hq", "provider_parent_hq", "datacenter"}) rental.set_string(f, "US");
  rental.set_string("customer_hq", "CN");
  rental.set_string("parent_hq", "CN");
  rental.set_string(chip, "H100-SXM5-80GB");
  rental.set_int(count, 64);
  rental.set_number("hours", 100);
  rental.set_number("training_ops", 0);
  rental.set_bool("entity_listed", false);
  rental.set_number("listed_ownership", 0);
  edict::Status status = evaluator.evaluate(rental, decision);
  if (!status.ok()) {
    std::cerr << "typed event: " << edict::code_name(status.code) << ": " << status.message << '\n';
    return 1;
  }
  print("typed", decision);
  for (const edict::FiredRule& r : decision.rules)
    std::cout << "  " << r.name << " [" << r.cite << "]: " << r.message << '\n';
  return 0;
}
