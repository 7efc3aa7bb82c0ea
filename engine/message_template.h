// Message templates: a rule's message function reduced to constant text and
// typed value holes when it is one straight-line block of field loads,
// constants and emits (as every `"... {event.x} ..."` message is), so that
// decision records get messages without a run of the interpreter. Other
// shapes get no template and stay with the interpreter, which remains the
// reference: a template writes exactly the JSON escape of the interpreter's
// text, and a message that would fault is left to the interpreter whole.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "abi/abi.h"
#include "abi/schema.h"
#include "compiler/ir/ir.h"
#include "engine/record_buffer.h"

namespace edict::engine {

class MessageTemplate {
 public:
  // The template of message function `f`, or nullopt when `f` is not straight
  // line. `columns`: f's kind's field -> batch column (abi::column_map).
  static std::optional<MessageTemplate> compile(const ir::Module& module, const ir::Function& f,
                                                const std::vector<int>& columns);

  // Whether the message function faults on `row` (a checked load of a field
  // the row lacks).
  bool faults(const EdictColumns& columns, uint32_t row) const {
    for (int c : checked_)
      if (columns.present[c] && !columns.present[c][row]) return true;
    return false;
  }
  // The message of a row it does not fault on, JSON-escaped, without quotes.
  void put_json(RecordBuffer& out, const EdictColumns& columns, uint32_t row) const;
  // The same message as plain text, exactly the interpreter's, appended to
  // `out` (a string reused across rows keeps its buffer).
  void append_text(std::string& out, const EdictColumns& columns, uint32_t row) const;

 private:
  struct Hole {
    std::string before;       // JSON-escaped constant text ahead of the value
    std::string before_text;  // the same text unescaped
    int column = -1;          // batch column of the value
    ir::Ty type = ir::Ty::Void;
    bool as_date = false;  // a `date` column: its day, not its midnight
  };
  std::vector<Hole> holes_;
  std::string tail_;          // JSON-escaped constant text after the last value
  std::string tail_text_;     // the same text unescaped
  std::vector<int> checked_;  // batch columns of the checked loads
};

// The message template of every (rule, event kind), built once per policy
// for the body the interpreter runs there (ir::Rule::body_for); shared by
// the record writer and the embedding API.
class MessageTemplates {
 public:
  static constexpr int32_t kNoMessage = -1, kInterpreted = -2;
  MessageTemplates() = default;
  MessageTemplates(const ir::Module& module, const abi::Schema& schema);

  // An index for at(), or kNoMessage (the body has none) or kInterpreted
  // (not straight line: the interpreter must run it).
  int32_t slot(size_t rule, size_t kind) const { return slot_[rule * kinds_ + kind]; }
  const MessageTemplate& at(int32_t slot) const { return templates_[static_cast<size_t>(slot)]; }
  size_t size() const { return templates_.size(); }

 private:
  size_t kinds_ = 0;
  std::vector<int32_t> slot_;
  std::vector<MessageTemplate> templates_;
};

}  // namespace edict::engine
