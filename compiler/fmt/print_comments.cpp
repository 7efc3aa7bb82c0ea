// Comment placement against the printed lines' source ranges, and the final
// text: blank lines, indentation, aligned trailing comments.
#include "compiler/fmt/printer.h"

#include <algorithm>

namespace edict::fmt::detail {

std::string Printer::comment_text(size_t i) const {
  const ast::Comment& c = module_.comments[i];
  std::string_view t = slice(c.span.begin, c.span.end);
  if (!c.block) t = trim(t);
  return std::string(t);
}

std::vector<size_t> Printer::attach(const std::vector<size_t>& comments) {
  std::vector<size_t> order;
  for (size_t i = 0; i < lines_.size(); ++i)
    if (!lines_[i].range.empty()) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lines_[a].range.begin < lines_[b].range.begin; });
  std::vector<size_t> at_end;
  for (size_t ci : comments) {
    uint32_t cb = module_.comments[ci].span.begin;
    auto it = std::upper_bound(order.begin(), order.end(), cb,
                               [&](uint32_t pos, size_t li) { return pos < lines_[li].range.begin; });
    if (it != order.begin()) {
      Line& prev = lines_[*(it - 1)];
      if (prev.range.end > cb) {
        prev.leading.push_back(ci);
        continue;
      }
      if (slice(prev.range.end, cb).find('\n') == std::string_view::npos) {
        prev.trailing.push_back(ci);
        continue;
      }
    }
    if (it != order.end())
      lines_[*it].leading.push_back(ci);
    else
      at_end.push_back(ci);
  }
  return at_end;
}

std::string Printer::emit(const std::vector<size_t>& comments, std::string_view margin) {
  std::vector<size_t> at_end = attach(comments);
  std::vector<OutLine> out;
  uint32_t last_end = kNoPos;
  auto extend = [&](uint32_t end) { last_end = last_end == kNoPos ? end : std::max(last_end, end); };
  auto blank_before = [&](Blank mode, bool first, uint32_t begin) {
    if (out.empty()) return false;
    if (mode == Blank::Force && first) return true;
    return mode != Blank::Never && begin != kNoPos && has_blank_line(last_end, begin);
  };
  auto comment_line = [&](size_t ci, bool blank, int indent) {
    OutLine o;
    o.blank_before = blank;
    o.indent = indent;
    o.text = comment_text(ci);
    out.push_back(std::move(o));
    extend(module_.comments[ci].span.end);
  };
  for (Line& l : lines_) {
    bool first = true;
    int comment_indent = l.comment_indent >= 0 ? l.comment_indent : l.indent;
    for (size_t ci : l.leading) {
      comment_line(ci, blank_before(l.blank, first, module_.comments[ci].span.begin), comment_indent);
      first = false;
    }
    OutLine o;
    o.blank_before = blank_before(l.blank, first, l.range.empty() ? kNoPos : l.range.begin);
    o.code = true;
    o.indent = l.indent;
    o.text = std::move(l.text);
    o.trailing = l.trailing;
    out.push_back(std::move(o));
    if (!l.range.empty()) extend(l.range.end);
    for (size_t ci : l.trailing) extend(module_.comments[ci].span.end);
  }
  for (size_t ci : at_end)
    comment_line(ci, !out.empty() && has_blank_line(last_end, module_.comments[ci].span.begin), 0);
  return render(out, margin);
}

std::string Printer::render(const std::vector<OutLine>& out, std::string_view margin) const {
  std::vector<int> column(out.size(), 0);
  for (size_t i = 0; i < out.size();) {
    size_t j = i + 1;
    while (j < out.size() && out[j].code && !out[j].blank_before && out[j].indent == out[i].indent &&
           out[i].code)
      ++j;
    int col = 0;
    for (size_t k = i; k < j; ++k)
      if (!out[k].trailing.empty()) col = std::max(col, out[k].indent + width(out[k].text) + 1);
    for (size_t k = i; k < j; ++k) column[k] = col;
    i = j;
  }
  std::string text;
  for (size_t i = 0; i < out.size(); ++i) {
    const OutLine& o = out[i];
    if (o.blank_before) text += newline_;
    text += margin;
    text.append(static_cast<size_t>(std::max(o.indent, 0)), ' ');
    text += o.text;
    for (size_t k = 0; k < o.trailing.size(); ++k) {
      if (k == 0) {
        int used = o.indent + width(o.text);
        text.append(static_cast<size_t>(std::max(column[i] - used, 1)), ' ');
      } else {
        text += ' ';
      }
      text += comment_text(o.trailing[k]);
    }
    text += newline_;
  }
  return text;
}

}  // namespace edict::fmt::detail
