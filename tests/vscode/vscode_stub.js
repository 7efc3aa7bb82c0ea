// A minimal stand-in for the `vscode` module, enough for the extension's
// client (editors/vscode/extension.js) and the real vscode-languageclient
// to run under plain Node: the value classes the library converts protocol
// messages into (Position, Range, Diagnostic, Hover, ...), events the test
// fires (a document opened, changed, closed), and registries that keep what
// the library registers (providers, diagnostic collections) so the test can
// call a provider as VS Code would and read the diagnostics it was given.
//
// What it is not: VS Code. No editor, no TextMate grammar, no UI; windows'
// messages are recorded, not shown. Names the library reaches for that this
// file does not define are recorded in `missing` (the test prints them).
"use strict";

const missing = new Set();

class Disposable {
  constructor(fn) { this._fn = fn; }
  static from(...items) { return new Disposable(() => items.forEach((i) => i && i.dispose && i.dispose())); }
  dispose() { if (this._fn) this._fn(); this._fn = undefined; }
}

class EventEmitter {
  constructor() { this._listeners = []; }
  get event() {
    return (listener, thisArg, disposables) => {
      const entry = thisArg ? listener.bind(thisArg) : listener;
      this._listeners.push(entry);
      const d = new Disposable(() => { this._listeners = this._listeners.filter((l) => l !== entry); });
      if (Array.isArray(disposables)) disposables.push(d);
      return d;
    };
  }
  fire(value) { for (const l of [...this._listeners]) l(value); }
  dispose() { this._listeners = []; }
}

class CancellationTokenSource {
  constructor() {
    this._emitter = new EventEmitter();
    this.token = { isCancellationRequested: false, onCancellationRequested: this._emitter.event };
  }
  cancel() { this.token.isCancellationRequested = true; this._emitter.fire(); }
  dispose() {}
}

class CancellationError extends Error {}

class Uri {
  constructor(scheme, authority, path, query, fragment) {
    Object.assign(this, { scheme, authority: authority || "", path, query: query || "", fragment: fragment || "" });
  }
  static file(p) { return new Uri("file", "", p); }
  static parse(text) {
    const m = /^([a-z][a-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/i.exec(text);
    if (!m) throw new Error("not a URI: " + text);
    return new Uri(m[1], m[2], decodeURIComponent(m[3]), m[4], m[5]);
  }
  get fsPath() { return this.path; }
  with(change) {
    return new Uri(change.scheme ?? this.scheme, change.authority ?? this.authority, change.path ?? this.path,
      change.query ?? this.query, change.fragment ?? this.fragment);
  }
  toString() {
    const path = this.path.split("/").map(encodeURIComponent).join("/");
    return `${this.scheme}://${this.authority}${path}` + (this.query ? "?" + this.query : "") +
      (this.fragment ? "#" + this.fragment : "");
  }
  toJSON() { return this.toString(); }
}

class Position {
  constructor(line, character) { this.line = line; this.character = character; }
  isEqual(o) { return o.line === this.line && o.character === this.character; }
  isBefore(o) { return this.line < o.line || (this.line === o.line && this.character < o.character); }
}

class Range {
  constructor(a, b, c, d) {
    if (typeof a === "number") { this.start = new Position(a, b); this.end = new Position(c, d); }
    else { this.start = a; this.end = b; }
  }
  get isEmpty() { return this.start.isEqual(this.end); }
}

class Selection extends Range {}

class Location {
  constructor(uri, rangeOrPosition) {
    this.uri = uri;
    this.range = rangeOrPosition instanceof Position ? new Range(rangeOrPosition, rangeOrPosition) : rangeOrPosition;
  }
}

class Diagnostic {
  constructor(range, message, severity) { Object.assign(this, { range, message, severity }); }
}
class DiagnosticRelatedInformation {
  constructor(location, message) { Object.assign(this, { location, message }); }
}
class MarkdownString {
  constructor(value, supportThemeIcons) { this.value = value || ""; this.supportThemeIcons = supportThemeIcons; }
  appendMarkdown(v) { this.value += v; return this; }
  appendText(v) { this.value += v; return this; }
  appendCodeblock(v, lang) { this.value += "\n```" + (lang || "") + "\n" + v + "\n```\n"; return this; }
}
class Hover {
  constructor(contents, range) { this.contents = Array.isArray(contents) ? contents : [contents]; this.range = range; }
}
class CompletionItem {
  constructor(label, kind) { this.label = label; this.kind = kind; }
}
class CompletionList {
  constructor(items, isIncomplete) { this.items = items || []; this.isIncomplete = !!isIncomplete; }
}
class TextEdit {
  constructor(range, newText) { this.range = range; this.newText = newText; }
  static replace(range, newText) { return new TextEdit(range, newText); }
}
class SnippetString { constructor(value) { this.value = value; } }
class DocumentSymbol {
  constructor(name, detail, kind, range, selectionRange) {
    Object.assign(this, { name, detail, kind, range, selectionRange, children: [] });
  }
}
class SymbolInformation {
  constructor(name, kind, containerName, location) { Object.assign(this, { name, kind, containerName, location }); }
}
class WorkspaceEdit {
  constructor() { this._edits = []; }
  set(uri, edits) { this._edits.push([uri, edits]); }
  replace(uri, range, text) { this._edits.push([uri, [new TextEdit(range, text)]]); }
  entries() { return this._edits; }
}
// Classes the library extends when it loads (its protocol-carrying
// subclasses); the features they serve are not exercised.
class CodeLens { constructor(range, command) { this.range = range; this.command = command; } }
class CodeAction { constructor(title, kind) { this.title = title; this.kind = kind; } }
class DocumentLink { constructor(range, target) { this.range = range; this.target = target; } }
class InlayHint { constructor(position, label, kind) { Object.assign(this, { position, label, kind }); } }
class CallHierarchyItem {
  constructor(kind, name, detail, uri, range, selectionRange) {
    Object.assign(this, { kind, name, detail, uri, range, selectionRange });
  }
}
class TypeHierarchyItem extends CallHierarchyItem {}
class CodeActionKind {
  constructor(value) { this.value = value; }
  append(part) { return new CodeActionKind(this.value ? this.value + "." + part : part); }
  contains(other) { return this.value === "" || other.value === this.value || other.value.startsWith(this.value + "."); }
  intersects(other) { return this.contains(other) || other.contains(this); }
}
for (const [name, value] of [["Empty", ""], ["QuickFix", "quickfix"], ["Refactor", "refactor"],
  ["RefactorExtract", "refactor.extract"], ["RefactorInline", "refactor.inline"], ["RefactorMove", "refactor.move"],
  ["RefactorRewrite", "refactor.rewrite"], ["Source", "source"], ["SourceOrganizeImports", "source.organizeImports"],
  ["SourceFixAll", "source.fixAll"], ["Notebook", "notebook"]]) CodeActionKind[name] = new CodeActionKind(value);
class RelativePattern { constructor(base, pattern) { this.base = base; this.pattern = pattern; } }

// Enums as VS Code numbers them.
const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
const DiagnosticTag = { Unnecessary: 1, Deprecated: 2 };
const CompletionItemKind = Object.fromEntries(["Text", "Method", "Function", "Constructor", "Field", "Variable",
  "Class", "Interface", "Module", "Property", "Unit", "Value", "Enum", "Keyword", "Snippet", "Color", "File",
  "Reference", "Folder", "EnumMember", "Constant", "Struct", "Event", "Operator", "TypeParameter", "User",
  "Issue"].map((n, i) => [n, i]));
const SymbolKind = Object.fromEntries(["File", "Module", "Namespace", "Package", "Class", "Method", "Property",
  "Field", "Constructor", "Enum", "Interface", "Function", "Variable", "Constant", "String", "Number", "Boolean",
  "Array", "Object", "Key", "Null", "EnumMember", "Struct", "Event", "Operator", "TypeParameter"]
  .map((n, i) => [n, i]));
const CompletionItemTag = { Deprecated: 1 };
const SymbolTag = { Deprecated: 1 };
const CompletionTriggerKind = { Invoke: 0, TriggerCharacter: 1, TriggerForIncompleteCompletions: 2 };
const TextDocumentSaveReason = { Manual: 1, AfterDelay: 2, FocusOut: 3 };
const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
const EndOfLine = { LF: 1, CRLF: 2 };

// A text document as VS Code hands it to extensions (the parts the client reads).
class TextDocument {
  constructor(path, languageId, text) {
    this.uri = Uri.file(path);
    this.fileName = path;
    this.languageId = languageId;
    this.version = 1;
    this.isUntitled = false;
    this.isClosed = false;
    this.isDirty = false;
    this.eol = EndOfLine.LF;
    this._text = text;
  }
  getText(range) {
    if (!range) return this._text;
    return this._text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  get lineCount() { return this._text.split("\n").length; }
  offsetAt(p) {
    const lines = this._text.split("\n");
    let at = 0;
    for (let i = 0; i < p.line && i < lines.length; ++i) at += lines[i].length + 1;
    return at + p.character;
  }
  positionAt(offset) {
    const before = this._text.slice(0, offset).split("\n");
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  lineAt(line) {
    const text = this._text.split("\n")[typeof line === "number" ? line : line.line];
    return { text, range: new Range(line, 0, line, text.length) };
  }
}

const events = {
  open: new EventEmitter(), close: new EventEmitter(), change: new EventEmitter(), save: new EventEmitter(),
  willSave: new EventEmitter(), configuration: new EventEmitter(), folders: new EventEmitter(),
  activeEditor: new EventEmitter(),
};

const registered = { providers: [], collections: [], commands: new Map(), messages: [], output: [] };
let configuration = {};
const documents = [];

function languageMatches(selector, document) {
  const filters = Array.isArray(selector) ? selector : [selector];
  for (const f of filters) {
    if (typeof f === "string" ? f === document.languageId
      : (!f.language || f.language === document.languageId) && (!f.scheme || f.scheme === document.uri.scheme) &&
        !f.pattern && !f.notebookType) return 10;
  }
  return 0;
}

function provider(kind) {
  return (selector, impl, ...rest) => {
    const entry = { kind, selector, impl, rest };
    registered.providers.push(entry);
    return new Disposable(() => { registered.providers = registered.providers.filter((e) => e !== entry); });
  };
}

const languages = {
  match: languageMatches,
  createDiagnosticCollection(name) {
    const entries = new Map();
    const c = {
      name,
      set(uri, diagnostics) {
        if (Array.isArray(uri)) for (const [u, d] of uri) entries.set(u.toString(), d || []);
        else entries.set(uri.toString(), diagnostics || []);
        registered.diagnosticsChanged.fire(uri);
      },
      get(uri) { return entries.get(uri.toString()); },
      delete(uri) { entries.delete(uri.toString()); },
      clear() { entries.clear(); },
      forEach(fn) { for (const [u, d] of entries) fn(Uri.parse(u), d, c); },
      has(uri) { return entries.has(uri.toString()); },
      dispose() { entries.clear(); },
    };
    registered.collections.push(c);
    return c;
  },
  getDiagnostics: () => [],
};
registered.diagnosticsChanged = new EventEmitter();
for (const name of ["Hover", "Definition", "CompletionItem", "DocumentFormattingEdit", "DocumentRangeFormattingEdit",
  "DocumentSymbol", "SignatureHelp", "Declaration", "TypeDefinition", "Implementation", "Reference",
  "DocumentHighlight", "WorkspaceSymbol", "CodeActions", "CodeLens", "OnTypeFormattingEdit", "Rename",
  "DocumentLink", "Color", "FoldingRange", "SelectionRange", "CallHierarchy", "TypeHierarchy", "InlineValues",
  "InlayHints", "InlineCompletionItem", "DocumentSemanticTokens", "DocumentRangeSemanticTokens",
  "LinkedEditingRange"]) {
  languages["register" + name + "Provider"] = provider(name);
}

function outputChannel(name) {
  const lines = [];
  registered.output.push({ name, lines });
  return {
    name, append: (v) => lines.push(v), appendLine: (v) => lines.push(v), replace: (v) => lines.push(v),
    clear() {}, show() {}, hide() {}, dispose() {},
    trace: (v) => lines.push(v), debug: (v) => lines.push(v), info: (v) => lines.push(v),
    warn: (v) => lines.push(v), error: (v) => lines.push(String(v)), logLevel: 0,
    onDidChangeLogLevel: new EventEmitter().event,
  };
}

function message(kind) {
  return (text, ...items) => { registered.messages.push({ kind, text }); return Promise.resolve(undefined); };
}

const window = {
  createOutputChannel: outputChannel,
  showErrorMessage: message("error"),
  showWarningMessage: message("warning"),
  showInformationMessage: message("information"),
  showTextDocument: () => Promise.resolve(undefined),
  withProgress: (options, task) => task({ report() {} }, new CancellationTokenSource().token),
  activeTextEditor: undefined,
  visibleTextEditors: [],
  onDidChangeActiveTextEditor: events.activeEditor.event,
  onDidChangeVisibleTextEditors: new EventEmitter().event,
  tabGroups: { all: [], onDidChangeTabs: new EventEmitter().event, onDidChangeTabGroups: new EventEmitter().event },
};

const workspace = {
  get textDocuments() { return documents.filter((d) => !d.isClosed); },
  workspaceFolders: undefined,
  getWorkspaceFolder: () => undefined,
  getConfiguration(section) {
    return {
      get: (key, fallback) => {
        const full = section ? section + "." + key : key;
        return full in configuration ? configuration[full] : fallback;
      },
      has: (key) => (section ? section + "." + key : key) in configuration,
      inspect: () => undefined,
      update: () => Promise.resolve(),
    };
  },
  onDidOpenTextDocument: events.open.event,
  onDidCloseTextDocument: events.close.event,
  onDidChangeTextDocument: events.change.event,
  onDidSaveTextDocument: events.save.event,
  onWillSaveTextDocument: events.willSave.event,
  onDidChangeConfiguration: events.configuration.event,
  onDidChangeWorkspaceFolders: events.folders.event,
  onDidCreateFiles: new EventEmitter().event,
  onDidRenameFiles: new EventEmitter().event,
  onDidDeleteFiles: new EventEmitter().event,
  onWillCreateFiles: new EventEmitter().event,
  onWillRenameFiles: new EventEmitter().event,
  onWillDeleteFiles: new EventEmitter().event,
  onDidOpenNotebookDocument: new EventEmitter().event,
  onDidCloseNotebookDocument: new EventEmitter().event,
  onDidChangeNotebookDocument: new EventEmitter().event,
  onDidSaveNotebookDocument: new EventEmitter().event,
  notebookDocuments: [],
  createFileSystemWatcher: () => ({
    onDidCreate: new EventEmitter().event, onDidChange: new EventEmitter().event,
    onDidDelete: new EventEmitter().event, dispose() {},
  }),
  applyEdit: () => Promise.resolve(false),
};

const commands = {
  registerCommand(id, fn) { registered.commands.set(id, fn); return new Disposable(() => registered.commands.delete(id)); },
  executeCommand: () => Promise.resolve(undefined),
};

const env = { appName: "vscode stand-in (tests/vscode/vscode_stub.js)", language: "en", openExternal: () => Promise.resolve(false) };

const api = {
  version: "1.90.0",
  Disposable, EventEmitter, CancellationTokenSource, CancellationError, Uri, Position, Range, Selection, Location,
  Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, MarkdownString, Hover,
  CompletionItem, CompletionList, CompletionItemKind, CompletionItemTag, CompletionTriggerKind, TextEdit,
  SnippetString, DocumentSymbol, SymbolInformation, SymbolKind, SymbolTag, WorkspaceEdit, RelativePattern,
  TextDocumentSaveReason, ProgressLocation, EndOfLine,
  CodeLens, CodeAction, CodeActionKind, DocumentLink, InlayHint, CallHierarchyItem, TypeHierarchyItem,
  languages, window, workspace, commands, env,
};

// The test's side: open, change and close documents as an editor would;
// read what the client registered.
const harness = {
  registered,
  setConfiguration(values) { configuration = values; },
  open(path, languageId, text) {
    const d = new TextDocument(path, languageId, text);
    documents.push(d);
    events.open.fire(d);
    return d;
  },
  // Replaces the whole text (one content change spanning the old text).
  change(document, text) {
    const old = document._text;
    const range = new Range(new Position(0, 0), document.positionAt(old.length));
    document._text = text;
    document.version += 1;
    events.change.fire({
      document, reason: undefined,
      contentChanges: [{ range, rangeOffset: 0, rangeLength: old.length, text }],
    });
  },
  close(document) { document.isClosed = true; events.close.fire(document); },
  missing,
};

// Any other name the library reads is recorded and stands in as undefined.
module.exports = new Proxy(api, {
  get(target, name) {
    if (name === "__harness") return harness;
    if (!(name in target) && typeof name === "string" && name !== "then" && name !== "__esModule") missing.add(name);
    return target[name];
  },
});
