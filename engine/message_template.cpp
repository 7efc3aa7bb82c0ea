#include "engine/message_template.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <unordered_map>

#include "abi/batch.h"
#include "compiler/interp/interp.h"
#include "support/countries.h"

namespace edict::engine {

std::optional<MessageTemplate> MessageTemplate::compile(const ir::Module& module, const ir::Function& f,
                                                        const std::vector<int>& columns) {
  if (f.kind != ir::FunctionKind::Message || f.blocks.size() != 1) return std::nullopt;
  // What each register holds at this point of the block: a constant's text
  // (already formatted as the interpreter's emit would) or a column load.
  struct Value {
    bool constant = false;
    std::string text;
    int column = -1;
    ir::Ty type = ir::Ty::Void;
    uint64_t bits = 0;  // a constant's, to format it again as a date
  };
  std::unordered_map<ir::Reg, Value> regs;
  MessageTemplate t;
  std::string pending;       // constant text since the last hole, escaped
  std::string pending_text;  // the same text unescaped
  for (const ir::Inst& in : f.blocks[0].insts) {
    switch (in.op) {
      case ir::Op::Const: {
        Value v{true, {}, -1, in.type};
        if (in.type == ir::Ty::Str) {
          if (in.imm < 0 || static_cast<size_t>(in.imm) >= module.strings.size()) return std::nullopt;
          v.text = module.strings[static_cast<size_t>(in.imm)];
        } else {
          uint64_t bits =
              in.type == ir::Ty::Number ? std::bit_cast<uint64_t>(in.fimm) : static_cast<uint64_t>(in.imm);
          v.text = interp::format_value(in.type, bits, nullptr);
          v.bits = bits;
        }
        regs[in.dst] = std::move(v);
        break;
      }
      case ir::Op::Copy: {
        auto it = regs.find(in.a);
        if (it == regs.end()) return std::nullopt;
        Value v = it->second;
        regs[in.dst] = std::move(v);
        break;
      }
      case ir::Op::Load:
      case ir::Op::LoadChecked: {
        if (in.imm < 0 || static_cast<size_t>(in.imm) >= columns.size()) return std::nullopt;
        int column = columns[static_cast<size_t>(in.imm)];
        if (in.op == ir::Op::LoadChecked) t.checked_.push_back(column);
        regs[in.dst] = Value{false, {}, column, in.type};
        break;
      }
      case ir::Op::EmitText:
        if (in.imm < 0 || static_cast<size_t>(in.imm) >= module.strings.size()) return std::nullopt;
        append_json_escaped(pending, module.strings[static_cast<size_t>(in.imm)]);
        pending_text += module.strings[static_cast<size_t>(in.imm)];
        break;
      case ir::Op::EmitValue: {
        auto it = regs.find(in.a);
        if (it == regs.end()) return std::nullopt;
        const bool as_date = in.aux == ir::kEmitDate;
        if (it->second.constant) {
          std::string text = as_date ? interp::format_value(it->second.type, it->second.bits, nullptr, true)
                                     : it->second.text;
          append_json_escaped(pending, text);
          pending_text += text;
        } else {
          t.holes_.push_back(
              Hole{std::move(pending), std::move(pending_text), it->second.column, it->second.type, as_date});
          pending.clear();
          pending_text.clear();
        }
        break;
      }
      case ir::Op::Ret:
        t.tail_ = std::move(pending);
        t.tail_text_ = std::move(pending_text);
        return t;
      default: return std::nullopt;
    }
  }
  return std::nullopt;  // no `ret`: not a block the verifier accepts
}

void MessageTemplate::put_json(RecordBuffer& out, const EdictColumns& columns, uint32_t row) const {
  for (const Hole& h : holes_) {
    // The longest non-string value, a number, takes 24 bytes.
    out.reserve(h.before.size() + 32);
    out.put(h.before);
    const void* data = columns.data[h.column];
    switch (h.type) {
      case ir::Ty::Str: {
        std::string_view s =
            static_cast<const abi::Batch*>(columns.strings)->string(static_cast<const uint32_t*>(data)[row]);
        out.reserve(RecordBuffer::json_escaped_bound(s));
        out.put_json_escaped(s);
        break;
      }
      case ir::Ty::Int: {
        char buf[24];
        auto end = std::to_chars(buf, buf + sizeof buf, static_cast<const int64_t*>(data)[row]).ptr;
        out.put(std::string_view(buf, static_cast<size_t>(end - buf)));
        break;
      }
      case ir::Ty::Country: {
        uint16_t c = static_cast<const uint16_t*>(data)[row];
        if (c < kCountryIndexLimit) {
          out.put(static_cast<char>('A' + c / 26));
          out.put(static_cast<char>('A' + c % 26));
        }
        break;
      }
      case ir::Ty::Number: {
        // The interpreter's fmt::format("{}"), its format string compiled away.
        char buf[32];
        auto r = fmt::format_to_n(buf, sizeof buf, FMT_COMPILE("{}"), static_cast<const double*>(data)[row]);
        out.put(std::string_view(buf, std::min(r.size, sizeof buf)));
        break;
      }
      case ir::Ty::Bool: out.put(static_cast<const uint8_t*>(data)[row] ? "true" : "false"); break;
      default: {
        // Times and durations: rare in messages, formatted as the interpreter does.
        std::string text =
            interp::format_value(h.type, static_cast<uint64_t>(static_cast<const int64_t*>(data)[row]),
                                 columns.strings, h.as_date);
        out.reserve(RecordBuffer::json_escaped_bound(text));
        out.put_json_escaped(text);
      }
    }
  }
  out.reserve(tail_.size());
  out.put(tail_);
}

void MessageTemplate::append_text(std::string& out, const EdictColumns& columns, uint32_t row) const {
  for (const Hole& h : holes_) {
    out += h.before_text;
    const void* data = columns.data[h.column];
    switch (h.type) {
      case ir::Ty::Str:
        out +=
            static_cast<const abi::Batch*>(columns.strings)->string(static_cast<const uint32_t*>(data)[row]);
        break;
      case ir::Ty::Int: {
        char buf[24];
        auto end = std::to_chars(buf, buf + sizeof buf, static_cast<const int64_t*>(data)[row]).ptr;
        out.append(buf, end);
        break;
      }
      case ir::Ty::Country: {
        uint16_t c = static_cast<const uint16_t*>(data)[row];
        if (c < kCountryIndexLimit) {
          out += static_cast<char>('A' + c / 26);
          out += static_cast<char>('A' + c % 26);
        }
        break;
      }
      case ir::Ty::Number: {
        char buf[32];
        auto r = fmt::format_to_n(buf, sizeof buf, FMT_COMPILE("{}"), static_cast<const double*>(data)[row]);
        out.append(buf, std::min(r.size, sizeof buf));
        break;
      }
      case ir::Ty::Bool: out += static_cast<const uint8_t*>(data)[row] ? "true" : "false"; break;
      default:
        out += interp::format_value(h.type, static_cast<uint64_t>(static_cast<const int64_t*>(data)[row]),
                                    columns.strings, h.as_date);
    }
  }
  out += tail_text_;
}

MessageTemplates::MessageTemplates(const ir::Module& module, const abi::Schema& schema)
    : kinds_(module.events.size()) {
  const std::vector<std::vector<int>> columns = abi::column_map(schema);
  slot_.assign(module.rules.size() * kinds_, kNoMessage);
  for (size_t r = 0; r < module.rules.size(); ++r) {
    for (size_t k = 0; k < kinds_ && k < columns.size(); ++k) {
      const ir::RuleBody* body = module.rules[r].body_for(static_cast<int>(k));
      if (!body || body->message == ir::kNoFunc) continue;
      std::optional<MessageTemplate> t =
          MessageTemplate::compile(module, module.functions[static_cast<size_t>(body->message)], columns[k]);
      if (!t) {
        slot_[r * kinds_ + k] = kInterpreted;
        continue;
      }
      slot_[r * kinds_ + k] = static_cast<int32_t>(templates_.size());
      templates_.push_back(std::move(*t));
    }
  }
}

}  // namespace edict::engine
